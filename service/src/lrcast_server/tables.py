"""The database schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it.

Portable types only: the same tables serve SQLite (the default) and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Timestamp = sa.DateTime(timezone=True)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("updated", Timestamp, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False, default=False),
)

schedule_versions = sa.Table(
    "schedule_versions",
    metadata,
    sa.Column("name", sa.String(128), sa.ForeignKey("schedules.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=True),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("schedule", sa.String(128), sa.ForeignKey("schedules.name"), nullable=False),
    # "latest", or a pinned version number written as digits.
    sa.Column("follow", sa.String(20), nullable=False),
    sa.Column("scale", sa.Float, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("block", sa.Integer, nullable=False),
    sa.Column("total_steps", sa.BigInteger, nullable=True),
    sa.Column("steps_per_epoch", sa.BigInteger, nullable=True),
    # The last step of the highest block ever answered; -1 before the first answer.
    sa.Column("horizon", sa.BigInteger, nullable=False),
    # Bumped by every change of the timeline: a cached timeline is valid while it holds.
    sa.Column("timeline_rev", sa.Integer, nullable=False),
    sa.Column("last_step_seen", sa.BigInteger, nullable=True),
    sa.Column("archived", sa.Boolean, nullable=False, default=False),
    sa.Column("etag", sa.String(64), nullable=False),
    # The body of the PUT that bound the run: repeating it is a no-op, another is a conflict.
    sa.Column("binding", sa.JSON, nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("updated", Timestamp, nullable=False),
    # Reduce-on-plateau (migration 0002): the settings, the rule's state, and the last step it
    # applied (the compare-and-set guard of concurrent reports; -1 before the first).
    sa.Column("plateau", sa.JSON, nullable=True),
    sa.Column("plateau_state", sa.JSON, nullable=True),
    sa.Column("plateau_step", sa.BigInteger, nullable=False, server_default="-1"),
)

run_segments = sa.Table(
    "run_segments",
    metadata,
    sa.Column("run", sa.String(200), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("from_step", sa.BigInteger, primary_key=True),
    sa.Column("schedule", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("scale", sa.Float, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("clock", sa.String(16), nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("total_steps", sa.BigInteger, nullable=True),
    sa.Column("steps_per_epoch", sa.BigInteger, nullable=True),
    sa.Column("reduction", sa.Float, nullable=False, server_default="1.0"),
    sa.Column("min_lr", sa.Float, nullable=False, server_default="0.0"),
    # The binding the segment came from: "latest" or a pinned version, and the offset given.
    # NULL in segments written before revision 0003 (the run's own columns stand in).
    sa.Column("follow", sa.String(16), nullable=True),
    sa.Column("binding_offset", sa.BigInteger, nullable=True),
    sa.ForeignKeyConstraint(
        ["schedule", "version"], ["schedule_versions.name", "schedule_versions.version"]
    ),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("revoked", Timestamp, nullable=True),
)

run_metrics = sa.Table(
    "run_metrics",
    metadata,
    sa.Column("run", sa.String(200), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("applied", sa.Boolean, nullable=False),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("reported_by", sa.String(128), nullable=True),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("actor", sa.String(128), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)

sa.Index("ix_runs_schedule", runs.c.schedule)
sa.Index("ix_audit_target", audit.c.target)
