"""Model versions and their tags."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
