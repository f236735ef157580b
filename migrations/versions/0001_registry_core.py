"""Registry core: models, versions, tags, aliases, transition requests and the audit ledger.

Revision ID: 0001
Revises:
Created: 2026-11-22
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def name(length: int = 256) -> sa.types.TypeEngine:
    # Byte-wise order and prefix LIKE on PostgreSQL, as SQLite does natively.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", name(), nullable=False),
        sa.Column("name_key", name(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registered_models"),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
        sa.UniqueConstraint("name_key", name="uq_registered_models_name_key"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(256), nullable=True),
        sa.Column("run_link", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(256), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.CheckConstraint(
            "stage IN ('None', 'Staging', 'Production', 'Archived')",
            name="ck_model_versions_stage_known",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_model_versions_model_id_registered_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_id_version"),
    )
    op.create_index(
        "ix_model_versions_model_stage_version",
        "model_versions",
        ["model_id", "stage", "version"],
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("key", name(250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_registered_model_tags_model_id_registered_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "key", name="pk_registered_model_tags"),
    )
    op.create_table(
        "model_version_tags",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("key", name(250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_model_version_tags_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "key", name="pk_model_version_tags"),
    )
    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("alias", name(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        # The alias can only point at a version of its own model, and dies with it.
        sa.ForeignKeyConstraint(
            ["model_id", "version"],
            ["model_versions.model_id", "model_versions.version"],
            name="fk_model_aliases_version_model_versions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_model_aliases_model_id_registered_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_model_aliases"),
    )
    op.create_table(
        "transition_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(16), nullable=False),
        sa.Column("to_stage", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(256), nullable=False),
        sa.Column("requested_at", utc(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("archive_existing_versions", sa.Boolean(), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("decided_at", utc(), nullable=True),
        sa.Column("decided_by", sa.String(256), nullable=True),
        sa.Column("archived_versions", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'applied', 'rejected', 'cancelled', 'expired')",
            name="ck_transition_requests_state_known",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_transition_requests_model_id_registered_models",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_transition_requests_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_transition_requests"),
    )
    op.create_index("ix_transition_requests_model_id_id", "transition_requests", ["model_id", "id"])
    op.create_index("ix_transition_requests_state_id", "transition_requests", ["state", "id"])
    op.create_index("ix_transition_requests_version_id", "transition_requests", ["version_id"])

    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", utc(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("model", name(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_actor_seq", "audit_events", ["actor", "seq"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_event_seq", "audit_events", ["event", "seq"])
    op.create_index("ix_audit_events_model_seq", "audit_events", ["model", "seq"])

    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    # The genesis: seq 0, an all-zero hash. The first event chains onto it.
    op.bulk_insert(
        head, [{"id": 1, "seq": 0, "hash": "0" * 64, "at": dt.datetime(1970, 1, 1, tzinfo=dt.UTC)}]
    )


def downgrade() -> None:
    for table in (
        "audit_chain_head",
        "audit_events",
        "transition_requests",
        "model_aliases",
        "model_version_tags",
        "registered_model_tags",
        "model_versions",
        "registered_models",
    ):
        op.drop_table(table)
