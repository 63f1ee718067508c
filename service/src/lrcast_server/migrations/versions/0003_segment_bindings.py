"""Each timeline segment keeps the binding it came from (follow and offset).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_segments") as batch:
        batch.add_column(sa.Column("follow", sa.String(16), nullable=True))
        batch.add_column(sa.Column("binding_offset", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_segments") as batch:
        batch.drop_column("binding_offset")
        batch.drop_column("follow")
