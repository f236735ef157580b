"""The append-only audit ledger and the head of its hash chain."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm.base import Base, Name

GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_model_seq", "model", "seq"),
        sa.Index("ix_audit_events_event_seq", "event", "seq"),
        sa.Index("ix_audit_events_actor_seq", "actor", "seq"),
        # A time bound becomes a seq bound with one index-only probe ("at" never decreases
        # along the chain), so time filters stay seq range scans.
        sa.Index("ix_audit_events_at_seq", "at", "seq"),
    )

    # Assigned from the chain head under its lock, never by a database sequence: sequences
    # leave gaps when a transaction rolls back, and the ledger promises none.
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(sa.String(256))
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    event: Mapped[str] = mapped_column(sa.String(64))
    model: Mapped[str | None] = mapped_column(Name())
    version: Mapped[int | None]
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    request_id: Mapped[str | None] = mapped_column(sa.String(64))  # ours, always
    # The X-Request-ID the caller sent, if any: for correlation, never trusted as ours.
    client_request_id: Mapped[str | None] = mapped_column(sa.String(64))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditChainHead(Base):
    """One row: the seq and hash of the newest event. Appending locks it first."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[dt.datetime]
