"""Write-once artifacts: the store's file table, and each version's content digest.

``artifact_files`` is the record of every file in Modelgate's artifact store, keyed by the
model's id (not its name) and unique per path, so nothing is ever uploaded twice to one
place. Versions gain ``digest`` (the model-signing model digest), and for sources in the
store ``store_path`` and ``manifest``. Files an older release left on disk under model names
are brought into the new layout by the server at start-up (registry.serve.startup), which needs
the artifact volume this migration job may not mount.

Revision ID: 0010
Revises: 0009
Created: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def name(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "artifact_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(256), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_model", name(256), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_artifact_files_model_id_registered_models"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact_files")),
        sa.UniqueConstraint("model_id", "path", name=op.f("uq_artifact_files_model_id_path")),
    )
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("digest", sa.String(71), nullable=True))
        batch.add_column(sa.Column("store_model", name(256), nullable=True))
        batch.add_column(sa.Column("store_path", sa.String(512), nullable=True))
        batch.add_column(sa.Column("manifest", sa.JSON(), nullable=True))
    op.create_index(
        op.f("ix_model_versions_store_model"), "model_versions", ["store_model"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_model_versions_store_model"), table_name="model_versions")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("manifest")
        batch.drop_column("store_path")
        batch.drop_column("store_model")
        batch.drop_column("digest")
    op.drop_table("artifact_files")
