"""Service-account API tokens and role bindings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm.base import Base, Name


class ApiToken(Base):
    """A bearer token of a service account. Only its SHA-256 is stored; the secret is shown
    once, at creation. A service account (``name``) may hold several tokens, for rotation."""

    __tablename__ = "api_tokens"
    __table_args__ = (sa.Index("ix_api_tokens_name", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Name(128))
    owner: Mapped[str] = mapped_column(sa.String(256))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))  # enough to recognise it in a list
    # The grants the token carries: [{"role": ..., "model_pattern": ..., "stages": [...]}]
    grants: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(sa.String(256))
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(sa.String(256))
    last_used_at: Mapped[dt.datetime | None]


class RoleBinding(Base):
    """A role granted to a subject (``user:<sub>``, ``group:<name>``, ``service:<name>``) on
    the models matching a glob, optionally narrowed to some stages (approvers)."""

    __tablename__ = "role_bindings"
    __table_args__ = (
        sa.UniqueConstraint("subject", "role", "model_pattern"),
        sa.Index("ix_role_bindings_subject", "subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(300))
    role: Mapped[str] = mapped_column(sa.String(32))
    model_pattern: Mapped[str] = mapped_column(Name(256), default="*")
    stages: Mapped[list[str] | None] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(sa.String(256))
