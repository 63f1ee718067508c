"""Schedules, their versions, runs, run timelines and tokens.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.Column("updated", Timestamp, nullable=False),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_schedules"),
    )
    op.create_table(
        "schedule_versions",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(
            ["name"], ["schedules.name"], name="fk_schedule_versions_name_schedules"
        ),
        sa.PrimaryKeyConstraint("name", "version", name="pk_schedule_versions"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("schedule", sa.String(128), nullable=False),
        sa.Column("follow", sa.String(20), nullable=False),
        sa.Column("scale", sa.Float, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("groups", sa.JSON, nullable=False),
        sa.Column("block", sa.Integer, nullable=False),
        sa.Column("total_steps", sa.BigInteger, nullable=True),
        sa.Column("steps_per_epoch", sa.BigInteger, nullable=True),
        sa.Column("horizon", sa.BigInteger, nullable=False),
        sa.Column("timeline_rev", sa.Integer, nullable=False),
        sa.Column("last_step_seen", sa.BigInteger, nullable=True),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("binding", sa.JSON, nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.Column("updated", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule"], ["schedules.name"], name="fk_runs_schedule_schedules"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_schedule", "runs", ["schedule"])
    op.create_table(
        "run_segments",
        sa.Column("run", sa.String(200), nullable=False),
        sa.Column("from_step", sa.BigInteger, nullable=False),
        sa.Column("schedule", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("scale", sa.Float, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("clock", sa.String(16), nullable=False),
        sa.Column("groups", sa.JSON, nullable=False),
        sa.Column("total_steps", sa.BigInteger, nullable=True),
        sa.Column("steps_per_epoch", sa.BigInteger, nullable=True),
        sa.ForeignKeyConstraint(["run"], ["runs.id"], name="fk_run_segments_run_runs"),
        sa.ForeignKeyConstraint(
            ["schedule", "version"],
            ["schedule_versions.name", "schedule_versions.version"],
            name="fk_run_segments_schedule_schedule_versions",
        ),
        sa.PrimaryKeyConstraint("run", "from_step", name="pk_run_segments"),
    )
    op.create_table(
        "tokens",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.Column("revoked", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_tokens"),
        sa.UniqueConstraint("hash", name="uq_tokens_hash"),
    )


def downgrade() -> None:
    op.drop_table("tokens")
    op.drop_table("run_segments")
    op.drop_index("ix_runs_schedule", table_name="runs")
    op.drop_table("runs")
    op.drop_table("schedule_versions")
    op.drop_table("schedules")
