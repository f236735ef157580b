"""Querying the audit ledger: filters, a page of events, every event in chunks, a count.

Queries are keyset ranges over ``seq``. Times along the chain never run backwards (the
ledger assigns ``at`` under the chain lock), so a time filter becomes a ``seq`` range found
with one index probe, and every filter stays an index range scan however long the ledger.
Export walks the same ranges in chunks, so memory stays flat for any number of events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import ledger, permissions, validation
from registry.domain.errors import InvalidArgument
from registry.domain.pagination import Page, check_max_results, paginate
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.orm import AuditEvent

CHUNK = 1000


@dataclass(frozen=True, slots=True)
class EventInfo:
    seq: int
    at: dt.datetime
    actor: str
    actor_kind: str
    event: str
    model: str | None
    version: int | None
    data: dict[str, Any]
    request_id: str | None
    prev_hash: str
    hash: str
    client_request_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": ledger.format_time(self.at),
            "actor": self.actor,
            "actor_kind": self.actor_kind,
            "event": self.event,
            "model": self.model,
            "version": self.version,
            "data": self.data,
            "request_id": self.request_id,
            "client_request_id": self.client_request_id,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


TABLE = AuditEvent.__table__


def _info(row: Any) -> EventInfo:
    return EventInfo(
        row.seq,
        row.at,
        row.actor,
        row.actor_kind,
        row.event,
        row.model,
        row.version,
        row.data,
        row.request_id,
        row.prev_hash,
        row.hash,
        row.client_request_id,
    )


@dataclass(frozen=True, slots=True)
class Filters:
    model: str | None = None
    version: int | None = None
    actor: str | None = None
    event: str | None = None  # an exact name, or a family: "transition_request.*"
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "actor": self.actor,
            "event": self.event,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def make_filters(
    *,
    model: str | None = None,
    version: int | None = None,
    actor: str | None = None,
    event: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Filters:
    if version is not None:
        version = validation.version_number(version)
    if event is not None and (not event or len(event) > 64):
        raise InvalidArgument(
            "event must name an event or a family such as 'transition_request.*'.", field="event"
        )
    if since is not None and until is not None and until < since:
        raise InvalidArgument("until must not be before since.", field="until")
    return Filters(model, version, actor, event, since, until)


def _seq_bounds(session: Session, filters: Filters) -> tuple[int, int] | None:
    """The seq range the time filters cover (None when it is empty).

    Because "at" never decreases along the chain, the first event at or after a time is the
    first entry of the (at, seq) index from there: one index probe, not a scan.
    """
    low, high = 1, 2**62
    if filters.since is not None:
        found = session.execute(
            sa.select(AuditEvent.seq)
            .where(AuditEvent.at >= filters.since)
            .order_by(AuditEvent.at, AuditEvent.seq)
            .limit(1)
        ).scalar_one_or_none()
        if found is None:
            return None
        low = found
    if filters.until is not None:
        found = session.execute(
            sa.select(AuditEvent.seq)
            .where(AuditEvent.at < filters.until)
            .order_by(AuditEvent.at.desc(), AuditEvent.seq.desc())
            .limit(1)
        ).scalar_one_or_none()
        if found is None:
            return None
        high = found
    return (low, high) if low <= high else None


def _select(filters: Filters, low: int, high: int, after: int, limit: int) -> sa.Select[Any]:
    # Plain rows, not ORM objects: a ledger scan needs no identity map and should not pay
    # for building one instance per event.
    stmt = sa.select(TABLE).where(AuditEvent.seq > max(after, low - 1), AuditEvent.seq <= high)
    if filters.model is not None:
        stmt = stmt.where(AuditEvent.model == filters.model)
    if filters.version is not None:
        stmt = stmt.where(AuditEvent.version == filters.version)
    if filters.actor is not None:
        stmt = stmt.where(AuditEvent.actor == filters.actor)
    if filters.event is not None:
        if filters.event.endswith(".*"):
            family = (
                filters.event[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            )
            stmt = stmt.where(AuditEvent.event.like(f"{family}%", escape="\\"))
        else:
            stmt = stmt.where(AuditEvent.event == filters.event)
    return stmt.order_by(AuditEvent.seq).limit(limit)


def query(
    session: Session,
    principal: Principal,
    filters: Filters,
    *,
    max_results: int | None = None,
    after: dict[str, Any] | None = None,
) -> Page[EventInfo]:
    """Events matching the filters, oldest first."""
    permissions.require(principal, Action.READ_AUDIT)
    limit = check_max_results(max_results)
    after_seq = 0
    if after is not None:
        if not isinstance(after.get("seq"), int):
            raise InvalidArgument("page_token is malformed.", field="page_token")
        after_seq = after["seq"]
    bounds = _seq_bounds(session, filters)
    if bounds is None:
        return Page([], None)
    rows = session.execute(_select(filters, *bounds, after_seq, limit + 1)).all()
    return paginate([_info(r) for r in rows], limit, lambda e: {"seq": e.seq})


def iterate(
    session: Session, principal: Principal, filters: Filters, chunk: int = CHUNK
) -> Iterator[EventInfo]:
    """Every matching event, oldest first, fetched in chunks: flat memory for any count.

    The permission is checked now, not when the first event is asked for, so a refusal comes
    before a streamed response has started."""
    permissions.require(principal, Action.READ_AUDIT)
    return _chunks(session, filters, chunk)


def _chunks(session: Session, filters: Filters, chunk: int) -> Iterator[EventInfo]:
    bounds = _seq_bounds(session, filters)
    if bounds is None:
        return
    after = 0
    while True:
        rows = session.execute(_select(filters, *bounds, after, chunk)).all()
        if not rows:
            return
        for row in rows:
            yield _info(row)
        after = rows[-1].seq


def count(session: Session, filters: Filters) -> int:
    """How many events match (for an export's progress bar)."""
    bounds = _seq_bounds(session, filters)
    if bounds is None:
        return 0
    matching = _select(filters, *bounds, 0, 2**62).order_by(None).limit(None).subquery()
    return session.execute(sa.select(sa.func.count()).select_from(matching)).scalar_one()
