"""The tamper-evident audit chain: append under a lock, hash canonically.

Each event's hash is SHA-256 over a canonical JSON form of its fields and the previous hash,
so changing, removing or reordering any event breaks every hash after it. Appends serialise
on the single chain-head row (``SELECT ... FOR UPDATE``), which keeps ``seq`` gap-free and the
chain unforked when writers race. The lock is taken at commit time (the hook in
:mod:`registry.domain.on_commit` calls :func:`append`), so it is held only for the insert and
the commit itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import events
from registry.orm.audit import AuditChainHead, AuditEvent
from registry.orm.base import utcnow

HEAD_ID = 1


def format_time(value: dt.datetime) -> str:
    """RFC 3339 UTC with microseconds: the one textual form times are hashed in."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


HASHED_FIELDS = (
    "seq",
    "at",
    "actor",
    "actor_kind",
    "event",
    "model",
    "version",
    "data",
    "request_id",
    "prev_hash",
)
# Fields added to the ledger later: hashed when they hold a value, left out of the canonical
# form when they are null, so every event written before they existed keeps its hash.
HASHED_WHEN_PRESENT = ("client_request_id",)


def event_hash(**fields: Any) -> str:
    """SHA-256 over the canonical form of HASHED_FIELDS (all required) and the
    HASHED_WHEN_PRESENT fields given a value."""
    missing = set(HASHED_FIELDS) - set(fields)
    unknown = set(fields) - set(HASHED_FIELDS) - set(HASHED_WHEN_PRESENT)
    if missing or unknown:
        raise TypeError(f"event_hash takes {HASHED_FIELDS}, and {HASHED_WHEN_PRESENT} if set")
    canonical_fields = {k: v for k, v in fields.items() if k in HASHED_FIELDS or v is not None}
    canonical_fields["at"] = format_time(fields["at"])
    return hashlib.sha256(canonical(canonical_fields)).hexdigest()


def hash_of(row: Any) -> str:
    """The hash ``row`` should carry (an AuditEvent, or a plain row of its table)."""
    return event_hash(
        **{name: getattr(row, name) for name in HASHED_FIELDS},
        **{name: getattr(row, name, None) for name in HASHED_WHEN_PRESENT},
    )


def lock_chain(session: Session) -> AuditChainHead:
    """Take the chain head's row lock: appends, and anything that must not race with them."""
    return session.execute(
        sa.select(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def append(session: Session, pending: list[events.PendingEvent]) -> list[AuditEvent]:
    head = lock_chain(session)
    # Times never run backwards along the chain, even if replicas' clocks disagree a little,
    # so "what was true at T" can be answered by seq order alone.
    at = max(utcnow(), head.at)
    rows = []
    for item in pending:
        fields = {
            "seq": head.seq + 1,
            "at": at,
            "actor": item.actor,
            "actor_kind": item.actor_kind,
            "event": item.event,
            "model": item.model,
            "version": item.version,
            "data": json.loads(canonical(item.data)),  # exactly what is hashed and stored
            "request_id": item.request_id,
            "client_request_id": item.client_request_id,
            "prev_hash": head.hash,
        }
        row = AuditEvent(**fields, hash=event_hash(**fields))
        session.add(row)
        rows.append(row)
        head.seq, head.hash, head.at = row.seq, row.hash, at
    return rows
