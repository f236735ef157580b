"""Reading the audit ledger: query, export, verification and stage history at a moment.

Queries are keyset ranges over ``seq``. Times along the chain never run backwards (the
ledger assigns ``at`` under the chain lock), so a time filter becomes a ``seq`` range found
with one index probe, and every filter stays an index range scan however long the ledger.
Export walks the same ranges in chunks, so memory stays flat for any number of events.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import ledger, permissions, validation
from registry.domain.errors import InvalidArgument, NotFound
from registry.domain.events import EventType, record
from registry.domain.pagination import Page, check_max_results, paginate
from registry.domain.permissions import Action
from registry.domain.policy import PolicySet
from registry.domain.principal import Principal, system
from registry.domain.stages import Stage
from registry.orm import AuditChainHead, AuditEvent
from registry.orm.audit import GENESIS_HASH
from registry.orm.base import utcnow

CHUNK = 1000
POLICY_LOADED = "policy.loaded"


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


_TABLE = AuditEvent.__table__


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
    stmt = sa.select(_TABLE).where(AuditEvent.seq > max(after, low - 1), AuditEvent.seq <= high)
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


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    events_checked: int
    first_bad_seq: int | None
    problem: str | None = None


def verify(session: Session, principal: Principal, chunk: int = 5000) -> Verification:
    """Recompute the chain from the genesis: every seq present and in order, every event
    linked to the one before and hashing to what it says, and the newest one matching the
    chain head (so a truncated tail is caught too). Reports the first bad seq."""
    permissions.require(principal, Action.READ_AUDIT)
    head = session.get(AuditChainHead, ledger.HEAD_ID)
    expected_seq, previous, checked = 1, GENESIS_HASH, 0
    while True:
        rows = session.execute(
            sa.select(_TABLE)
            .where(AuditEvent.seq >= expected_seq)
            .order_by(AuditEvent.seq)
            .limit(chunk)
        ).all()
        for row in rows:
            if row.seq != expected_seq:
                return Verification(
                    False, checked, expected_seq, f"event {expected_seq} is missing"
                )
            if row.prev_hash != previous:
                return Verification(
                    False, checked, row.seq, "prev_hash does not match the event before it"
                )
            if ledger.hash_of(row) != row.hash:
                return Verification(
                    False, checked, row.seq, "the event's content does not match its hash"
                )
            previous, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
        if len(rows) < chunk:
            break
    if head is not None and (head.seq != checked or head.hash != previous):
        return Verification(
            False,
            checked,
            checked + 1,
            f"the chain head says {head.seq} events; the table ends at {checked}",
        )
    return Verification(True, checked, None)


# --------------------------------------------------------------------------- stage history


@dataclass(frozen=True, slots=True)
class Holder:
    version: int
    since: dt.datetime
    seq: int
    request_id: int | None
    requested_by: str | None
    approved_by: list[str] = field(default_factory=list)
    changed_by: str | None = None
    # The people behind requested_by and approved_by (token owners), as recorded when the
    # request was applied; None for changes recorded before people were.
    requested_by_person: str | None = None
    approved_by_people: list[str] | None = None


@dataclass(frozen=True, slots=True)
class StageHistory:
    name: str
    at: dt.datetime
    stages: dict[str, list[Holder]]


def _lineage(session: Session, name: str) -> set[str]:
    """Every name the model has had (it may have been renamed since)."""
    names = {name}
    renames = session.execute(
        sa.select(AuditEvent.data)
        .where(AuditEvent.event == EventType.MODEL_RENAMED.value)
        .order_by(AuditEvent.seq.desc())
    ).scalars()
    current = name
    for data in renames:
        if data.get("to") == current:
            current = data.get("from")
            names.add(current)
    return names


def stage_history(
    session: Session, principal: Principal, name: str, at: dt.datetime | None = None
) -> StageHistory:
    """Which versions held Staging and Production at ``at`` (default: now), since when,
    through which request and approved by whom, replayed from the ledger itself."""
    from registry.domain.registered_models import find_model

    permissions.require(principal, Action.READ, name)
    if find_model(session, name) is None:
        raise NotFound(f"Registered model {name!r} not found.")
    at = at or utcnow()
    upto = (
        session.execute(
            sa.select(sa.func.max(AuditEvent.seq)).where(AuditEvent.at <= at)
        ).scalar_one()
        or 0
    )
    names = _lineage(session, name)
    relevant = (
        EventType.MODEL_CREATED.value,
        EventType.MODEL_DELETED.value,
        EventType.VERSION_DELETED.value,
        EventType.STAGE_CHANGED.value,
        EventType.REQUEST_APPLIED.value,
        EventType.REQUEST_CREATED.value,
        EventType.IMPORTED.value,
    )
    holders: dict[int, tuple[str, Holder]] = {}  # version -> (stage, holder)
    requests: dict[int, dict[str, Any]] = {}
    stmt = (
        sa.select(AuditEvent)
        .where(AuditEvent.model.in_(names), AuditEvent.seq <= upto, AuditEvent.event.in_(relevant))
        .order_by(AuditEvent.seq)
    )
    for row in session.execute(stmt).scalars():
        event, data = _as_ordinary(row.event, row.data)
        if event in (EventType.MODEL_CREATED.value, EventType.MODEL_DELETED.value):
            holders.clear()  # a model of this name began (again) here
        elif event == EventType.VERSION_DELETED.value:
            holders.pop(row.version or 0, None)
        elif event in (EventType.REQUEST_CREATED.value, EventType.REQUEST_APPLIED.value):
            requests.setdefault(row.data.get("request_id"), {}).update(row.data)
        elif event == EventType.STAGE_CHANGED.value and row.version is not None:
            request = requests.get(row.data.get("request_id"), {})
            holders[row.version] = (
                data.get("to_stage"),
                Holder(
                    version=row.version,
                    since=row.at,
                    seq=row.seq,
                    request_id=row.data.get("request_id"),
                    requested_by=request.get("requested_by"),
                    approved_by=[],
                    changed_by=row.actor,
                ),
            )
    # Approvals are recorded on the "applied" event that follows each stage change.
    stages: dict[str, list[Holder]] = {Stage.PRODUCTION.value: [], Stage.STAGING.value: []}
    for stage, holder in holders.values():
        if stage in stages:
            request = requests.get(holder.request_id, {})
            approved = list(request.get("approved_by") or [])
            people = request.get("approved_by_people")
            stages[stage].append(
                dataclasses.replace(
                    holder,
                    approved_by=approved,
                    requested_by_person=request.get("requested_by_person"),
                    approved_by_people=list(people) if people is not None else None,
                )
            )
    for listed in stages.values():
        listed.sort(key=lambda h: h.version, reverse=True)
    return StageHistory(name, at, stages)


def _as_ordinary(event: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An imported change read as the ordinary event it stands for: an imported version
    entered its stage when it was imported (with no request behind it)."""
    if event != EventType.IMPORTED.value:
        return event, data
    change = str(data.get("change"))
    if change == EventType.VERSION_CREATED.value:
        return EventType.STAGE_CHANGED.value, {"to_stage": data.get("stage")}
    return change, data


# --------------------------------------------------------------------------- policies


def record_policies_if_changed(session: Session, policies: PolicySet) -> bool:
    """Record the policy set in force when it differs from the last one recorded.

    Takes the chain lock first, so replicas starting together record a change once.
    """
    ledger.lock_chain(session)
    last = session.execute(
        sa.select(AuditEvent.data)
        .where(AuditEvent.event == POLICY_LOADED)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is not None and last.get("digest") == policies.digest:
        return False
    record(
        session,
        POLICY_LOADED,
        system(),
        data={
            "digest": policies.digest,
            "previous_digest": last.get("digest") if last else None,
            "files": list(policies.files),
            "policies": [p.name for p in policies.policies],
            "alias_rules": [r.name for r in policies.alias_rules],
        },
    )
    return True


def canonical_line(event: EventInfo) -> str:
    """One NDJSON line: the event as the API shows it."""
    return json.dumps(event.as_dict(), ensure_ascii=False, separators=(",", ":"))
