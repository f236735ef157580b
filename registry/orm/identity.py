"""Service-account API tokens and role bindings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm.base import Base, Name


class ApiToken(Base):
    """A bearer token of a service account. Only its SHA-256 is stored; the secret is shown
    once, at creation. A service account (``name``) may hold several tokens, for rotation.

    ``owner`` is the person who answers for the token (``user:<sub>`` or ``system:<name>``):
    four-eyes rules count its calls as that person's. A token whose roles the policy
    governs is ``pending`` until a second admin approves it, and authenticates as nothing
    until then."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.Index("ix_api_tokens_name", "name"),
        sa.CheckConstraint("state IN ('active', 'pending')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Name(128))
    owner: Mapped[str] = mapped_column(sa.String(256))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # Enough to recognise it in a list (mgt_ and four characters), never enough to guess it.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    # The grants the token carries: [{"role": ..., "model_pattern": ..., "stages": [...]}]
    grants: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(sa.String(256))
    # The person who minted it: the second admin who approves it must be someone else.
    created_by_person: Mapped[str] = mapped_column(sa.String(256))
    state: Mapped[str] = mapped_column(sa.String(16), default="active")
    approved_by: Mapped[str | None] = mapped_column(sa.String(256))
    approved_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(sa.String(256))
    last_used_at: Mapped[dt.datetime | None]


class RoleBinding(Base):
    """A role granted to a subject (``user:<sub>``, ``group:<name>``, ``service:<name>``) on
    the models matching a glob, optionally narrowed to some stages (approvers). A binding
    of a role the policy governs is ``pending``, granting nothing, until a second admin
    approves it."""

    __tablename__ = "role_bindings"
    __table_args__ = (
        sa.UniqueConstraint("subject", "role", "model_pattern"),
        sa.Index("ix_role_bindings_subject", "subject"),
        sa.CheckConstraint("state IN ('active', 'pending')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(300))
    role: Mapped[str] = mapped_column(sa.String(32))
    model_pattern: Mapped[str] = mapped_column(Name(256), default="*")
    stages: Mapped[list[str] | None] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(sa.String(256))
    created_by_person: Mapped[str] = mapped_column(sa.String(256))
    state: Mapped[str] = mapped_column(sa.String(16), default="active")
    approved_by: Mapped[str | None] = mapped_column(sa.String(256))
    approved_at: Mapped[dt.datetime | None]
