"""Metrics, reduce-on-plateau and the audit trail.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("plateau", sa.JSON, nullable=True))
        batch.add_column(sa.Column("plateau_state", sa.JSON, nullable=True))
        batch.add_column(
            sa.Column("plateau_step", sa.BigInteger, nullable=False, server_default="-1")
        )
    with op.batch_alter_table("run_segments") as batch:
        batch.add_column(sa.Column("reduction", sa.Float, nullable=False, server_default="1.0"))
        batch.add_column(sa.Column("min_lr", sa.Float, nullable=False, server_default="0.0"))
    op.create_table(
        "run_metrics",
        sa.Column("run", sa.String(200), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("created", Timestamp, nullable=False),
        sa.Column("reported_by", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(["run"], ["runs.id"], name="fk_run_metrics_run_runs"),
        sa.PrimaryKeyConstraint("run", "step", "name", name="pk_run_metrics"),
    )
    op.create_table(
        "audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_target", "audit", ["target"])


def downgrade() -> None:
    op.drop_index("ix_audit_target", table_name="audit")
    op.drop_table("audit")
    op.drop_table("run_metrics")
    with op.batch_alter_table("run_segments") as batch:
        batch.drop_column("min_lr")
        batch.drop_column("reduction")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("plateau_step")
        batch.drop_column("plateau_state")
        batch.drop_column("plateau")
