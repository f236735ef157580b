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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import ledger, permissions, validation
from registry.domain.errors import DomainError, InvalidArgument, NotFound
from registry.domain.events import EventType, record
from registry.domain.locking import find_model
from registry.domain.pagination import Page, check_max_results, paginate
from registry.domain.permissions import Action
from registry.domain.policy import PolicySet
from registry.domain.principal import Principal, system
from registry.domain.stages import Stage
from registry.domain.transitions.states import RequestState
from registry.orm import (
    Approval,
    AuditChainHead,
    AuditEvent,
    ModelVersion,
    RegisteredModel,
    TransitionRequest,
)
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

MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    """How the ledger stands against a checkpoint saved earlier."""

    seq: int
    hash: str
    key_id: str
    ok: bool
    problem: str | None = None
    # RFC 3161: "verified", "not checked" (no authority certificate to check it with), or
    # None when the checkpoint carries no time-stamp; and the time it vouches for.
    timestamp: str | None = None
    timestamped_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "key_id": self.key_id,
            "ok": self.ok,
            "problem": self.problem,
            "timestamp": self.timestamp,
            "timestamped_at": ledger.format_time(self.timestamped_at)
            if self.timestamped_at
            else None,
        }


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    events_checked: int
    first_bad_seq: int | None
    problem: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    # What the ledger and the registry's tables disagree on (each {"kind", "message", ...}).
    problems: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: CheckpointCheck | None = None
    checkpoints_checked: int = 0  # audit.checkpoint events found in the ledger and checked

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problems": self.problems,
            "checkpoints_checked": self.checkpoints_checked,
            "checkpoint": self.checkpoint.as_dict() if self.checkpoint else None,
        }


def verify(
    session: Session,
    principal: Principal,
    chunk: int = 5000,
    *,
    checkpoint: Any = None,
    keys: Mapping[str, Any] | None = None,
    tsa_roots: Sequence[Any] = (),
) -> Verification:
    """Recompute the chain from the genesis: every seq present and in order, every event
    linked to the one before and hashing to what it says, and the newest one matching the
    chain head (so a truncated tail is caught too). Reports the first bad seq.

    In the same pass it replays what the ledger says about stages and transition requests,
    and compares that with the registry's tables (:class:`_Replay`), and checks the signed
    checkpoints the ledger carries. Given a ``checkpoint`` saved earlier (a
    :class:`registry.domain.checkpoints.Checkpoint`), it also proves the ledger still holds
    that head: the checkpoint's signature must verify with one of ``keys`` (key id -> public
    key), and the event at its seq must carry exactly its hash. An RFC 3161 time-stamp it
    carries must verify against ``tsa_roots`` (it is reported unchecked without them). A
    ledger truncated or re-hashed after the checkpoint was issued fails here even though its
    chain verifies.

    On PostgreSQL it reads one snapshot (a read-only REPEATABLE READ transaction of its
    own), so events and changes committed while it runs can neither look like a truncated
    tail nor like rows the ledger does not account for.
    """
    permissions.require(principal, Action.READ_AUDIT)
    bind = session.get_bind()
    if isinstance(bind, sa.Engine) and bind.dialect.name == "postgresql":
        with bind.connect() as connection:
            snapshot = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with Session(bind=snapshot) as reading:
                return _verify(reading, chunk, checkpoint, keys or {}, tsa_roots)
    return _verify(session, chunk, checkpoint, keys or {}, tsa_roots)


def _verify(
    session: Session,
    chunk: int,
    checkpoint: Any,
    keys: Mapping[str, Any],
    tsa_roots: Sequence[Any],
) -> Verification:
    head = session.get(AuditChainHead, ledger.HEAD_ID)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    found = {"head_seq": head_seq, "head_hash": head_hash}
    replay = _Replay(keys)
    expected_seq, previous, checked = 1, GENESIS_HASH, 0
    at_checkpoint: str | None = None
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
                    False, checked, expected_seq, f"event {expected_seq} is missing", **found
                )
            if row.prev_hash != previous:
                return Verification(
                    False,
                    checked,
                    row.seq,
                    "prev_hash does not match the event before it",
                    **found,
                )
            if ledger.hash_of(row) != row.hash:
                return Verification(
                    False,
                    checked,
                    row.seq,
                    "the event's content does not match its hash",
                    **found,
                )
            if checkpoint is not None and row.seq == checkpoint.seq:
                at_checkpoint = row.hash
            replay.feed(row)
            previous, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
        if len(rows) < chunk:
            break
    if head is not None and (head.seq != checked or head.hash != previous):
        return Verification(
            False,
            checked,
            checked + 1,
            f"the chain head says {head.seq} events; the table ends at {checked}",
            **found,
        )
    problems = replay.compare(session)
    against = None
    if checkpoint is not None:
        against = _against_checkpoint(checkpoint, keys, checked, at_checkpoint, tsa_roots)
    ok = not problems and (against is None or against.ok)
    summary = None
    if problems:
        summary = f"{len(problems)} disagreement(s) between the ledger and the registry's tables"
    if against is not None and not against.ok:
        summary = against.problem
    return Verification(
        ok,
        checked,
        None,
        summary,
        **found,
        problems=problems[:MAX_PROBLEMS],
        checkpoint=against,
        checkpoints_checked=replay.checkpoints_checked,
    )


def _against_checkpoint(
    checkpoint: Any,
    keys: Mapping[str, Any],
    checked: int,
    at_checkpoint: str | None,
    tsa_roots: Sequence[Any] = (),
) -> CheckpointCheck:
    from registry.domain import checkpoints

    stamped: dict[str, Any] = {}

    def result(problem: str | None) -> CheckpointCheck:
        return CheckpointCheck(
            checkpoint.seq, checkpoint.hash, checkpoint.key_id, problem is None, problem, **stamped
        )

    wrong = checkpoints.signature_problem(checkpoint, keys)
    if wrong is not None:
        return result(wrong)
    if checkpoint.rfc3161_timestamp is not None:
        if not tsa_roots:
            stamped["timestamp"] = "not checked"
        else:
            wrong, when = checkpoints.timestamp_problem(checkpoint, tsa_roots)
            if wrong is not None:
                return result(wrong)
            stamped.update(timestamp="verified", timestamped_at=when)
    if checkpoint.seq == 0:
        at_checkpoint = GENESIS_HASH
    if at_checkpoint is None:
        return result(
            f"the ledger ends at seq {checked}, before the checkpoint's seq {checkpoint.seq}: "
            "events recorded before the checkpoint was issued have been removed (truncated)"
        )
    if at_checkpoint != checkpoint.hash:
        return result(
            f"the event at seq {checkpoint.seq} hashes to {at_checkpoint}, but the checkpoint "
            f"signed {checkpoint.hash}: the ledger was rewritten at or before seq "
            f"{checkpoint.seq} after the checkpoint was issued, and its hashes recomputed"
        )
    return result(None)


def _problem(kind: str, message: str, **where: Any) -> dict[str, Any]:
    return {"kind": kind, "message": message, **where}


class _Replay:
    """What the ledger says about versions' stages and transition requests, replayed event by
    event during verification, then compared with the tables in a few set-based queries.

    A row written behind the ledger's back (an approval inserted, a stage set by hand) or an
    event whose row was removed shows up as a disagreement, even where the chain verifies.
    Events carry the model's name at the time, so renames, deletions and re-creations are
    followed; transition requests are keyed by id, and a new request.created for an id
    starts afresh (SQLite may reuse the id of a request deleted with its model).
    """

    def __init__(self, keys: Mapping[str, Any]) -> None:
        self.keys = keys
        self.stages: dict[str, dict[int, str]] = {}  # model name -> version -> stage
        self.requests: dict[int, dict[str, Any]] = {}
        self.problems: list[dict[str, Any]] = []
        self.claims: dict[int, tuple[int, str]] = {}  # checkpoint seq -> (event seq, hash)
        self.checkpoints_checked = 0

    def feed(self, row: Any) -> None:
        # One dict probe for the many events that concern neither stages nor requests:
        # verification's pace is this loop's.
        handler = self._handlers.get(row.event)
        if handler is not None:
            handler(self, row, row.data)

    def _imported(self, row: Any, data: dict[str, Any]) -> None:
        event, data = _as_ordinary(row.event, data)
        handler = self._handlers.get(event)
        if handler is not None and event != row.event:
            handler(self, row, data)

    # -- stages

    def _model_created(self, row: Any, data: dict[str, Any]) -> None:
        self.stages[row.model] = {}

    def _model_deleted(self, row: Any, data: dict[str, Any]) -> None:
        self.stages.pop(row.model, None)

    def _model_renamed(self, row: Any, data: dict[str, Any]) -> None:
        self.stages[data.get("to")] = self.stages.pop(data.get("from"), {})

    def _version_created(self, row: Any, data: dict[str, Any]) -> None:
        self.stages.setdefault(row.model, {})[row.version] = Stage.NONE.value

    def _version_deleted(self, row: Any, data: dict[str, Any]) -> None:
        self.stages.get(row.model, {}).pop(row.version, None)

    def _stage_changed(self, row: Any, data: dict[str, Any]) -> None:
        # An imported version arrives as a stage change (see _as_ordinary).
        stage = data.get("to_stage") or Stage.NONE.value
        self.stages.setdefault(row.model, {})[row.version] = stage
        trail = self.requests.get(data.get("request_id"))  # type: ignore[arg-type]
        if trail is not None and row.version == trail["version"]:
            trail["stage_changed"] = True

    # -- requests

    def _request_created(self, row: Any, data: dict[str, Any]) -> None:
        self.requests[data.get("request_id")] = {  # type: ignore[index]
            "seq": row.seq,
            "model": row.model,
            "version": row.version,
            "required": data.get("required_approvals") or 0,
            "approvers": set(),
            "applied": False,
            "stage_changed": False,
        }

    def _request_approved(self, row: Any, data: dict[str, Any]) -> None:
        trail = self.requests.get(data.get("request_id"))  # type: ignore[arg-type]
        if trail is not None:
            trail["approvers"].add(data.get("by") or row.actor)

    def _request_applied(self, row: Any, data: dict[str, Any]) -> None:
        trail = self.requests.get(data.get("request_id"))  # type: ignore[arg-type]
        if trail is None:
            self.problems.append(
                _problem(
                    "applied_without_request",
                    f"seq {row.seq} applies request {data.get('request_id')}, which the "
                    "ledger never saw created",
                    seq=row.seq,
                    request_id=data.get("request_id"),
                )
            )
            return
        trail["applied"] = True
        if len(trail["approvers"]) < trail["required"]:
            self.problems.append(
                _problem(
                    "too_few_approvals",
                    f"request {data.get('request_id')} was applied at seq {row.seq} with "
                    f"{len(trail['approvers'])} approval(s) in the ledger; it needed "
                    f"{trail['required']}",
                    seq=row.seq,
                    request_id=data.get("request_id"),
                )
            )

    # -- checkpoints the ledger carries

    def _checkpoint(self, row: Any, data: dict[str, Any]) -> None:
        from registry.domain import checkpoints

        try:
            claim = checkpoints.parse(data.get("checkpoint"))
        except DomainError:
            self.problems.append(
                _problem("checkpoint_malformed", f"seq {row.seq} holds no readable checkpoint")
            )
            return
        self.checkpoints_checked += 1
        if claim.key_id in self.keys:
            wrong = checkpoints.signature_problem(claim, self.keys)
            if wrong is not None:
                self.problems.append(
                    _problem("checkpoint_signature", f"seq {row.seq}: {wrong}", seq=row.seq)
                )
        if claim.seq == row.seq - 1:  # the usual case: the head just before it
            if claim.hash != row.prev_hash:
                self._checkpoint_mismatch(row.seq, claim.seq)
        elif claim.seq < row.seq:
            self.claims[claim.seq] = (row.seq, claim.hash)
        else:
            self._checkpoint_mismatch(row.seq, claim.seq)

    def _checkpoint_mismatch(self, seq: int, claimed: int) -> None:
        self.problems.append(
            _problem(
                "checkpoint_mismatch",
                f"the checkpoint recorded at seq {seq} signed a different event at seq "
                f"{claimed} than the ledger now holds: the ledger was rewritten after it",
                seq=seq,
            )
        )

    _handlers: dict[str, Any] = {
        EventType.MODEL_CREATED.value: _model_created,
        EventType.MODEL_DELETED.value: _model_deleted,
        EventType.MODEL_RENAMED.value: _model_renamed,
        EventType.VERSION_CREATED.value: _version_created,
        EventType.VERSION_DELETED.value: _version_deleted,
        EventType.STAGE_CHANGED.value: _stage_changed,
        EventType.REQUEST_CREATED.value: _request_created,
        EventType.REQUEST_APPROVED.value: _request_approved,
        EventType.REQUEST_APPLIED.value: _request_applied,
        EventType.AUDIT_CHECKPOINT.value: _checkpoint,
        EventType.IMPORTED.value: _imported,
    }

    # -- the comparison

    def compare(self, session: Session) -> list[dict[str, Any]]:
        self._compare_claims(session)
        problems = list(self.problems)
        self._compare_versions(session, problems)
        self._compare_requests(session, problems)
        return problems

    def _compare_claims(self, session: Session) -> None:
        wanted = sorted(self.claims)
        for start in range(0, len(wanted), 1000):
            part = wanted[start : start + 1000]
            actual = dict(
                session.execute(
                    sa.select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.seq.in_(part))
                ).all()
            )
            for seq in part:
                recorded_at, claimed = self.claims[seq]
                if actual.get(seq) != claimed:
                    self._checkpoint_mismatch(recorded_at, seq)

    def _compare_versions(self, session: Session, problems: list[dict[str, Any]]) -> None:
        rows = session.execute(
            sa.select(RegisteredModel.name, ModelVersion.version, ModelVersion.stage).join(
                RegisteredModel, RegisteredModel.id == ModelVersion.model_id
            )
        ).all()
        seen: set[tuple[str, int]] = set()
        for name, number, stage in rows:
            seen.add((name, number))
            told = self.stages.get(name, {}).get(number)
            if told is None:
                problems.append(
                    _problem(
                        "version_not_in_ledger",
                        f"version {number} of {name!r} exists, but the ledger never recorded "
                        "its creation",
                        model=name,
                        version=number,
                    )
                )
            elif told != stage:
                problems.append(
                    _problem(
                        "stage_mismatch",
                        f"version {number} of {name!r} is in {stage}, but the ledger's last "
                        f"stage event for it says {told}",
                        model=name,
                        version=number,
                    )
                )
        for name, numbers in self.stages.items():
            for number in numbers:
                if (name, number) not in seen:
                    problems.append(
                        _problem(
                            "version_missing",
                            f"the ledger has version {number} of {name!r}, which the registry "
                            "no longer has, with no deletion recorded",
                            model=name,
                            version=number,
                        )
                    )

    def _compare_requests(self, session: Session, problems: list[dict[str, Any]]) -> None:
        approvals: dict[int, set[str]] = {}
        for request_id, by in session.execute(sa.select(Approval.request_id, Approval.by)):
            approvals.setdefault(request_id, set()).add(by)
        requests = session.execute(
            sa.select(
                TransitionRequest.id, TransitionRequest.state, TransitionRequest.required_approvals
            )
        ).all()
        for request_id, state, required in requests:
            trail = self.requests.get(request_id)
            if trail is None:
                problems.append(
                    _problem(
                        "request_not_in_ledger",
                        f"transition request {request_id} exists, but the ledger never recorded it",
                        request_id=request_id,
                    )
                )
                continue
            rows, told = approvals.get(request_id, set()), trail["approvers"]
            for by in sorted(rows - told):
                problems.append(
                    _problem(
                        "approval_not_in_ledger",
                        f"request {request_id} has an approval by {by} that the ledger never "
                        "recorded",
                        request_id=request_id,
                    )
                )
            for by in sorted(told - rows):
                problems.append(
                    _problem(
                        "approval_missing",
                        f"the ledger records an approval of request {request_id} by {by} "
                        "that the registry no longer has",
                        request_id=request_id,
                    )
                )
            if required != trail["required"]:
                problems.append(
                    _problem(
                        "required_approvals_changed",
                        f"request {request_id} needs {required} approval(s), but the ledger "
                        f"recorded it needing {trail['required']}",
                        request_id=request_id,
                    )
                )
            if state == RequestState.APPLIED and not (trail["applied"] and trail["stage_changed"]):
                missing = (
                    "transition_request.applied"
                    if not trail["applied"]
                    else ("model_version.stage_changed")
                )
                problems.append(
                    _problem(
                        "applied_not_in_ledger",
                        f"request {request_id} is applied, but the ledger has no {missing} "
                        "event for it",
                        request_id=request_id,
                    )
                )
            elif state != RequestState.APPLIED and trail["applied"]:
                problems.append(
                    _problem(
                        "request_state_mismatch",
                        f"the ledger applied request {request_id}, but the registry says it "
                        f"is {state}",
                        request_id=request_id,
                    )
                )


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
