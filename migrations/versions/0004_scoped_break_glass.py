"""Scope break-glass to the freeze windows it overrode, and when.

Revision ID: 0004
Revises: 0003
Created: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transition_requests") as batch:
        batch.add_column(sa.Column("break_glass_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("break_glass_windows", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transition_requests") as batch:
        batch.drop_column("break_glass_windows")
        batch.drop_column("break_glass_at")
