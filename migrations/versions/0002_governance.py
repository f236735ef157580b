"""Governance: approvals, comments, request policy and expiry, exclusive stages.

Revision ID: 0002
Revises: 0001
Created: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("by", sa.String(256), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["transition_requests.id"],
            name="fk_approvals_request_id_transition_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        # One approval per person per request: quorum counts distinct approvers.
        sa.UniqueConstraint("request_id", "by", name="uq_approvals_request_id_by"),
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(256), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_comments_model_id_registered_models",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["transition_requests.id"],
            name="fk_comments_request_id_transition_requests",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_comments_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
    )
    op.create_index("ix_comments_version_id_id", "comments", ["version_id", "id"])

    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(
            sa.Column("exclusive", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(
        "uq_model_versions_exclusive_stage",
        "model_versions",
        ["model_id", "stage"],
        unique=True,
        postgresql_where=sa.text("exclusive"),
        sqlite_where=sa.text("exclusive"),
    )

    with op.batch_alter_table("transition_requests") as batch:
        batch.add_column(sa.Column("policy", sa.String(64), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decision_comment", sa.Text(), nullable=True))
        batch.add_column(sa.Column("break_glass", sa.Text(), nullable=True))
    op.create_index(
        "uq_transition_requests_one_pending",
        "transition_requests",
        ["version_id", "to_stage"],
        unique=True,
        postgresql_where=sa.text("state = 'pending'"),
        sqlite_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("uq_transition_requests_one_pending", "transition_requests")
    with op.batch_alter_table("transition_requests") as batch:
        batch.drop_column("break_glass")
        batch.drop_column("decision_comment")
        batch.drop_column("expires_at")
        batch.drop_column("policy")
    op.drop_index("uq_model_versions_exclusive_stage", "model_versions")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("exclusive")
    op.drop_table("comments")
    op.drop_table("approvals")
