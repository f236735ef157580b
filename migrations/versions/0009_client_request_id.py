"""Audit events keep the caller's X-Request-ID apart from ours.

Revision ID: 0009
Revises: 0008
Created: 2026-12-02

``request_id`` was the caller's X-Request-ID when it sent one, so a caller could file its
change under another request's id. From now on ``request_id`` is always ours and what the
caller sent goes in ``client_request_id``. Existing events keep what they have: their hashes
cover it, and the new column, null for them, is left out of the hash when null.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("client_request_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("client_request_id")
