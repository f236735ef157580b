"""Model versions and their tags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.orm.base import Base, Name, TimestampMixin

if TYPE_CHECKING:
    from registry.orm.registered_model import RegisteredModel


class ModelVersion(TimestampMixin, Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        sa.UniqueConstraint("model_id", "version"),
        # Resolution's only query: the highest version of a model in a stage.
        sa.Index("ix_model_versions_model_stage_version", "model_id", "stage", "version"),
        sa.CheckConstraint(
            "stage IN ('None', 'Staging', 'Production', 'Archived')", name="stage_known"
        ),
        # A version placed under a policy that makes its stage exclusive holds it alone: the
        # database refuses a second such version of the model in that stage, whatever races.
        sa.Index(
            "uq_model_versions_exclusive_stage",
            "model_id",
            "stage",
            unique=True,
            postgresql_where=sa.text("exclusive"),
            sqlite_where=sa.text("exclusive"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int]
    source: Mapped[str] = mapped_column(sa.Text)
    run_id: Mapped[str | None] = mapped_column(sa.String(256))
    run_link: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    stage: Mapped[str] = mapped_column(sa.String(16), default="None")
    exclusive: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    status: Mapped[str] = mapped_column(sa.String(32), default="READY")
    status_message: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))
    # What the version's files are: "sha256:<hex>", the model-signing model digest. Computed
    # by Modelgate for sources in its own store, supplied by the client for others, or None.
    digest: Mapped[str | None] = mapped_column(sa.String(71))
    # For mlflow-artifacts:/<model>/<path> sources (which a client fetches from Modelgate's
    # store when its tracking URI is Modelgate): the model name and path they point at. Nothing
    # may be uploaded there while the version exists (the files are sealed), whichever model
    # holds the name. For a source in the version's own model's files, also the manifest (the
    # in-toto statement model-signing signs) of the files there when it was registered;
    # deferred: only registration and stage changes read it.
    store_model: Mapped[str | None] = mapped_column(Name(), index=True)
    store_path: Mapped[str | None] = mapped_column(sa.String(512))
    manifest: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, deferred=True)

    model: Mapped[RegisteredModel] = relationship(back_populates="versions")
    tags: Mapped[list[ModelVersionTag]] = relationship(
        back_populates="model_version", cascade="all, delete-orphan", passive_deletes=True
    )


class ModelVersionTag(Base):
    __tablename__ = "model_version_tags"

    version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Name(250), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)

    model_version: Mapped[ModelVersion] = relationship(back_populates="tags")
