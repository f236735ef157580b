"""Registered models, their tags and aliases."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.orm.base import Base, Name, TimestampMixin

if TYPE_CHECKING:
    from registry.orm.model_version import ModelVersion


class RegisteredModel(TimestampMixin, Base):
    __tablename__ = "registered_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    # `name` is what users typed (after NFC normalisation); `name_key` is its case-folded form
    # and carries the uniqueness rule, so "Fraud" and "fraud" cannot both exist.
    name: Mapped[str] = mapped_column(Name(), unique=True)
    name_key: Mapped[str] = mapped_column(Name(), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    # Highest version number ever allocated. Incremented under the model's row lock, so
    # concurrent registrations get consecutive numbers, and never reused after a delete.
    last_version: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", cascade="all, delete-orphan", passive_deletes=True
    )
    tags: Mapped[list[RegisteredModelTag]] = relationship(
        back_populates="model", cascade="all, delete-orphan", passive_deletes=True
    )
    aliases: Mapped[list[ModelAlias]] = relationship(
        back_populates="model", cascade="all, delete-orphan", passive_deletes=True
    )


class RegisteredModelTag(Base):
    __tablename__ = "registered_model_tags"

    model_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Name(250), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)

    model: Mapped[RegisteredModel] = relationship(back_populates="tags")


class ModelAlias(Base):
    """A named pointer to one version of a model (``@champion``)."""

    __tablename__ = "model_aliases"
    __table_args__ = (
        # The composite key makes the database itself refuse an alias pointing at a version
        # of another model, and removes the alias when its version is deleted.
        sa.ForeignKeyConstraint(
            ["model_id", "version"],
            ["model_versions.model_id", "model_versions.version"],
            ondelete="CASCADE",
            name="fk_model_aliases_version_model_versions",
        ),
    )

    model_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(Name(255), primary_key=True)
    version: Mapped[int]
    updated_at: Mapped[dt.datetime]

    model: Mapped[RegisteredModel] = relationship(back_populates="aliases")
