"""What the ledger says about stages and transition requests, replayed and compared with the
registry's tables during verification (:mod:`registry.domain.audit.verify`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import checkpoints
from registry.domain.errors import DomainError
from registry.domain.events import EventType
from registry.domain.stages import Stage
from registry.domain.transitions.states import RequestState
from registry.orm import Approval, AuditEvent, ModelVersion, RegisteredModel, TransitionRequest


def _problem(kind: str, message: str, **where: Any) -> dict[str, Any]:
    return {"kind": kind, "message": message, **where}


class Replay:
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
        event, data = as_ordinary(row.event, data)
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


def as_ordinary(event: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An imported change read as the ordinary event it stands for: an imported version
    entered its stage when it was imported (with no request behind it)."""
    if event != EventType.IMPORTED.value:
        return event, data
    change = str(data.get("change"))
    if change == EventType.VERSION_CREATED.value:
        return EventType.STAGE_CHANGED.value, {"to_stage": data.get("stage")}
    return change, data
