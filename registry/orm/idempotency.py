"""Idempotency keys: the answer to a POST, kept so a retry gets it again instead of a copy."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm.base import Base


class IdempotencyKey(Base):
    """One caller's ``Idempotency-Key``: written in the same transaction as the change the
    request made, so a key exists exactly when its change does; the answer is added just
    after the commit."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        sa.UniqueConstraint("actor", "key", name="uq_idempotency_keys_actor_key"),
        sa.Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(sa.String(256))
    key: Mapped[str] = mapped_column(sa.String(256))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))  # of method, path, query and body
    created_at: Mapped[dt.datetime]
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
