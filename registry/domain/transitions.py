"""Stage changes under governance: requests, approvals, rejections, cancellations, expiry.

There is one path to a version's stage, :func:`_apply`, and every way in (the native API's
direct transition, the approval that completes a quorum, the MLflow layer) goes through
:func:`request_transition` or :func:`approve` to reach it.

Concurrency: every function that changes a request or a stage first locks the model's row
(then the request's), so all stage changes of one model are serialised. Two approvers racing
for the last approval end with one ``applied`` and one ``CONFLICT``; two requests racing into
an exclusive stage end with one winner, and the database's partial unique indexes (one
pending request per version and stage; one version in an exclusive stage) back that up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.domain import artifacts, permissions, policy, readmodels, search, validation
from registry.domain.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PolicyViolation,
)
from registry.domain.events import EventType, record
from registry.domain.locking import (
    find_model,
    lock_model,
    lock_model_id,
    lock_version,
    lookup_name,
    touch,
)
from registry.domain.pagination import Page, check_max_results, paginate
from registry.domain.permissions import Action
from registry.domain.policy import Check, Policy, PolicySet
from registry.domain.principal import Principal, system
from registry.domain.registered_models import release_stage_bound_aliases
from registry.domain.stages import Stage, move_problem, require_move
from registry.orm import Approval, ModelVersion, RegisteredModel, TransitionRequest
from registry.orm.base import utcnow

STATES = ("pending", "applied", "rejected", "cancelled", "expired")
MIN_JUSTIFICATION = 10
# A break-glass overrides the freeze windows open when it was given, for this long: enough
# for the approvals an emergency still needs, not enough to outlive the emergency.
BREAK_GLASS_VALIDITY = dt.timedelta(hours=12)


# --------------------------------------------------------------------------- read models


@dataclass(frozen=True, slots=True)
class ApprovalInfo:
    by: str
    at: dt.datetime
    comment: str | None
    person: str = ""  # the human behind ``by`` (a token's owner)


@dataclass(frozen=True, slots=True)
class TransitionInfo:
    id: int
    name: str
    version: int
    from_stage: str
    to_stage: str
    state: str
    requested_by: str
    requested_at: dt.datetime
    comment: str | None
    archive_existing_versions: bool
    required_approvals: int
    approvals: list[ApprovalInfo] = field(default_factory=list)
    decided_at: dt.datetime | None = None
    decided_by: str | None = None
    decision_comment: str | None = None
    archived_versions: list[int] = field(default_factory=list)
    policy: str | None = None
    expires_at: dt.datetime | None = None
    break_glass: str | None = None
    available_actions: list[str] = field(default_factory=list)
    requested_by_person: str = ""  # the human behind ``requested_by``


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A dry run of a transition for one caller (POST /policies/evaluate)."""

    allowed: bool
    policy: str | None
    required_approvals: int
    approvals_needed: int  # after the requester's own approval, when it counts
    failed_checks: list[Check]


def _state(req: TransitionRequest, now: dt.datetime) -> str:
    """A pending request past its expiry reads as expired even before the sweep records it."""
    if req.state == "pending" and req.expires_at is not None and req.expires_at <= now:
        return "expired"
    return req.state


def _info(
    req: TransitionRequest,
    model_name: str,
    version: int,
    now: dt.datetime,
    approvals: Sequence[Approval] | None = None,
    actions: list[str] | None = None,
) -> TransitionInfo:
    approvals = req.approvals if approvals is None else approvals
    return TransitionInfo(
        id=req.id,
        name=model_name,
        version=version,
        from_stage=req.from_stage,
        to_stage=req.to_stage,
        state=_state(req, now),
        requested_by=req.requested_by,
        requested_at=req.requested_at,
        comment=req.comment,
        archive_existing_versions=req.archive_existing_versions,
        required_approvals=req.required_approvals,
        approvals=[ApprovalInfo(a.by, a.at, a.comment, a.person) for a in approvals],
        decided_at=req.decided_at,
        decided_by=req.decided_by,
        decision_comment=req.decision_comment,
        archived_versions=list(req.archived_versions or []),
        policy=req.policy,
        expires_at=req.expires_at,
        break_glass=req.break_glass,
        available_actions=actions or [],
        requested_by_person=req.requested_by_person,
    )


def available_actions(principal: Principal, policies: PolicySet, info: TransitionInfo) -> list[str]:
    """What the caller may do with a request now: approve, reject, cancel (as Databricks shows).

    Whose request it is, and who approved it, are questions about people: another token of
    the requester's owner is the requester."""
    if info.state != "pending":
        return []
    actions = []
    from_stage = Stage(info.from_stage)
    own = principal.person == info.requested_by_person
    governing = policies.for_transition(info.name, from_stage, Stage(info.to_stage))
    if governing is not None and policy.is_eligible_approver(
        principal, governing, info.name, from_stage
    ):
        already = any(a.person == principal.person for a in info.approvals)
        if not already and not (own and governing.forbid_self_approval):
            actions.append("approve")
        if not own:
            actions.append("reject")
    if _may_cancel(principal, own, info.name):
        actions.append("cancel")
    return actions


def _may_cancel(principal: Principal, own: bool, model: str) -> bool:
    """The requester (with any of their tokens that may file requests) or a manager."""
    return (own and permissions.can(principal, Action.REQUEST_TRANSITION, model)) or (
        permissions.can(principal, Action.MANAGE, model)
    )


# --------------------------------------------------------------------------- checks


def _facts(session: Session, row: ModelVersion, model_name: str) -> policy.Facts:
    info = readmodels.version_info(session, row.id)
    return policy.Facts(
        model=model_name,
        version=row.version,
        tags=info.tags,
        description=info.description,
        source=info.source,
        digest=info.digest,
    )


def _incumbents(
    session: Session, model_id: int, stage: Stage, exclude_id: int, lock: bool = False
) -> list[ModelVersion]:
    stmt = (
        sa.select(ModelVersion)
        .where(
            ModelVersion.model_id == model_id,
            ModelVersion.stage == stage.value,
            ModelVersion.id != exclude_id,
        )
        .order_by(ModelVersion.version)
    )
    if lock:
        stmt = stmt.with_for_update()
    return list(session.execute(stmt).scalars())


def _policy_checks(
    session: Session,
    governing: Policy,
    model: RegisteredModel,
    row: ModelVersion,
    archive: bool,
    overridden: frozenset[str],
    now: dt.datetime,
) -> list[Check]:
    """Gates, freeze windows (but those an admin broke the glass on) and stage exclusivity:
    what a request must pass when it is made and again when it is applied."""
    failed = policy.check_gates(governing, _facts(session, row, model.name))
    failed += policy.check_freeze(governing, now, overridden)
    if governing.exclusive and not archive:
        holders = _incumbents(session, model.id, governing.stage, row.id)
        if holders:
            listed = ", ".join(str(v.version) for v in holders)
            failed.append(
                {
                    "check": "exclusive_stage",
                    "policy": governing.name,
                    "holders": [v.version for v in holders],
                    "message": f"{governing.stage.value} holds one version at a time and already "
                    f"holds version {listed}; archive it (archive_existing_versions) "
                    "or move it first.",
                }
            )
    return failed


def _governing(policies: PolicySet, model: str, from_stage: Stage, to_stage: Stage) -> Policy:
    found = policies.for_transition(model, from_stage, to_stage)
    if found is None:
        check = policy.no_policy(model, from_stage, to_stage)
        raise PolicyViolation(
            check["message"], failed_checks=[check], context={"to_stage": to_stage.value}
        )
    return found


def _archive_flag(to_stage: Stage, archive: bool | None, governing: Policy | None) -> bool:
    if archive and not to_stage.is_active:
        raise InvalidArgument(
            "archive_existing_versions applies only to transitions into Staging or Production.",
            field="archive_existing_versions",
        )
    if archive is None:
        return bool(governing and governing.archive_existing_versions)
    return archive


def _justification(principal: Principal, model: str, break_glass: str | None) -> str | None:
    if break_glass is None:
        return None
    permissions.require(principal, Action.BREAK_GLASS, model)
    text = validation.comment(break_glass, "break_glass")
    if text is None or len(text.strip()) < MIN_JUSTIFICATION:
        raise InvalidArgument(
            f"break_glass needs a justification of at least {MIN_JUSTIFICATION} characters.",
            field="break_glass",
        )
    return text.strip()


def _break_glass(
    req: TransitionRequest, justification: str, governing: Policy, now: dt.datetime
) -> list[str]:
    """Record an override of the windows open now; refuse one when none is open."""
    windows = [c["window"] for c in policy.check_freeze(governing, now)]
    if not windows:
        raise InvalidArgument(
            "No freeze window is open; break_glass is not needed.", field="break_glass"
        )
    req.break_glass, req.break_glass_at, req.break_glass_windows = justification, now, windows
    return windows


def _overridden(req: TransitionRequest, now: dt.datetime) -> frozenset[str]:
    if req.break_glass_at is None or now - req.break_glass_at > BREAK_GLASS_VALIDITY:
        return frozenset()
    return frozenset(req.break_glass_windows or ())


def _counted(req: TransitionRequest, governing: Policy) -> int:
    """Distinct people whose approvals count: one per person whatever tokens they used, and
    the requester never when the policy forbids it."""
    return len(
        {
            a.person
            for a in req.approvals
            if not (governing.forbid_self_approval and a.person == req.requested_by_person)
        }
    )


# --------------------------------------------------------------------------- requests


def evaluate(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    name: str,
    version: int,
    to_stage: Stage | str,
    *,
    archive_existing_versions: bool | None = None,
    now: dt.datetime | None = None,
) -> Evaluation:
    """Every check a request by ``principal`` would meet now, without changing anything."""
    now = now or utcnow()
    to_stage = Stage.parse(to_stage)
    version = validation.version_number(version)
    permissions.require(principal, Action.READ, name)
    model = find_model(session, name)
    if model is None:
        raise NotFound(f"Registered model {name!r} not found.")
    row = session.execute(
        sa.select(ModelVersion).where(
            ModelVersion.model_id == model.id, ModelVersion.version == version
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"Model version {name!r} version {version} not found.")
    from_stage = Stage(row.stage)
    failed: list[Check] = []
    if not permissions.can(principal, Action.REQUEST_TRANSITION, name):
        failed.append(
            {
                "check": "permission",
                "action": Action.REQUEST_TRANSITION.value,
                "message": f"{principal.id} may not request transitions of {name!r}.",
            }
        )
    problem = move_problem(from_stage, to_stage)
    if problem is not None:
        failed.append(problem)
    governing = policies.for_transition(name, from_stage, to_stage)
    if governing is None:
        failed.append(policy.no_policy(name, from_stage, to_stage))
        return Evaluation(False, None, 0, 0, failed)
    archive = _archive_flag(to_stage, archive_existing_versions, governing)
    pending = _pending(session, row.id, to_stage, lock=False)
    if pending is not None and _state(pending, now) == "pending":
        failed.append(
            {
                "check": "pending_request",
                "request_id": pending.id,
                "message": f"Request {pending.id} for this move is already pending.",
            }
        )
    failed += _policy_checks(session, governing, model, row, archive, frozenset(), now)
    own = (
        policy.is_eligible_approver(principal, governing, name, from_stage)
        and not governing.forbid_self_approval
    )
    needed = max(governing.min_approvals - (1 if own else 0), 0)
    return Evaluation(not failed, governing.name, governing.min_approvals, needed, failed)


def _pending(
    session: Session, version_id: int, to_stage: Stage, lock: bool = True
) -> TransitionRequest | None:
    stmt = sa.select(TransitionRequest).where(
        TransitionRequest.version_id == version_id,
        TransitionRequest.to_stage == to_stage.value,
        TransitionRequest.state == "pending",
    )
    return session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()


def request_transition(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    name: str,
    version: int,
    *,
    to_stage: Stage | str,
    comment: str | None = None,
    archive_existing_versions: bool | None = None,
    break_glass: str | None = None,
    require_immediate: bool = False,
    precondition: Callable[[readmodels.VersionInfo], None] | None = None,
    now: dt.datetime | None = None,
) -> TransitionInfo:
    """File a request to move a version into ``to_stage``, and apply it at once when the
    policy needs no further approval.

    The requester's own approval counts when they are an eligible approver and the policy
    does not forbid it. With ``require_immediate`` (the MLflow layer's direct transitions) a
    request that would have to wait is refused instead, and nothing changes.

    Raises NotFound, PermissionDenied, InvalidArgument, InvalidTransition, Conflict (a request
    for this move is already pending) or PolicyViolation (with every failed check).
    """
    now = now or utcnow()
    to_stage = Stage.parse(to_stage)
    version = validation.version_number(version)
    comment = validation.comment(comment)
    permissions.require(principal, Action.REQUEST_TRANSITION, name)
    justification = _justification(principal, name, break_glass)
    model = lock_model(session, name)
    row = lock_version(session, model, version)
    if precondition is not None:
        precondition(readmodels.version_info(session, row.id))
    from_stage = Stage(row.stage)
    require_move(from_stage, to_stage)
    governing = _governing(policies, model.name, from_stage, to_stage)
    archive = _archive_flag(to_stage, archive_existing_versions, governing)
    existing = _pending(session, row.id, to_stage)
    if existing is not None and _state(existing, now) == "expired":
        _expire(session, existing, model.name, row.version, now)
        existing = None
    if existing is not None:
        raise _already_pending(existing, name, version, to_stage)
    counts_self = (
        policy.is_eligible_approver(principal, governing, model.name, from_stage)
        and not governing.forbid_self_approval
    )
    needed = governing.min_approvals - (1 if counts_self else 0)
    if require_immediate and needed > 0:
        raise PermissionDenied(
            f"Policy {governing.name!r} needs {governing.min_approvals} approval(s) to move "
            f"{name!r} version {version} to {to_stage.value}; {principal.id} cannot make this "
            "change directly. File a transition request instead "
            f"(POST /api/v1/models/{name}/versions/{version}/transitions, or "
            "/api/2.0/mlflow/transition-requests/create) and have it approved.",
            reason="needs_approval",
            context={"to_stage": to_stage.value},
            policy=governing.name,
            required_approvals=governing.min_approvals,
        )

    req = TransitionRequest(
        model_id=model.id,
        version_id=row.id,
        from_stage=from_stage.value,
        to_stage=to_stage.value,
        state="pending",
        requested_by=principal.id,
        requested_by_person=principal.person,
        requested_at=now,
        comment=comment,
        archive_existing_versions=archive,
        required_approvals=governing.min_approvals,
        policy=governing.name,
        expires_at=now + governing.expire_after if governing.expire_after else None,
    )
    windows = _break_glass(req, justification, governing, now) if justification else []
    failed = _policy_checks(session, governing, model, row, archive, frozenset(windows), now)
    if failed:
        raise PolicyViolation(
            _violation_message(governing, failed),
            failed_checks=failed,
            context={"policy": governing.name, "to_stage": to_stage.value},
        )
    try:
        with session.begin_nested():
            session.add(req)
    except IntegrityError:  # another request for this move won the race
        winner = _pending(session, row.id, to_stage, lock=False)
        raise _already_pending(winner, name, version, to_stage) from None
    record(
        session,
        EventType.REQUEST_CREATED,
        principal,
        model=model.name,
        version=row.version,
        data=_request_data(req),
    )
    if justification is not None:
        _record_break_glass(session, principal, governing, req, model.name, row.version)
    if governing.min_approvals > 0 and counts_self:
        _add_approval(session, principal, req, model.name, row.version, None, now)
    if governing.min_approvals == 0 or _counted(req, governing) >= governing.min_approvals:
        _apply(session, principal, policies, governing, model, row, req, now)
    return _info(req, model.name, row.version, now)


def _already_pending(
    existing: TransitionRequest | None, name: str, version: int, to_stage: Stage
) -> Conflict:
    return Conflict(
        f"A request to move version {version} of {name!r} to {to_stage.value} is already "
        "pending; approve, reject or cancel it first.",
        reason="already_pending",
        context={"to_stage": to_stage.value},
        request_id=existing.id if existing is not None else None,
    )


def _violation_message(governing: Policy, failed: list[Check]) -> str:
    first = failed[0]["message"]
    more = f" ({len(failed) - 1} more check(s) failed.)" if len(failed) > 1 else ""
    return f"Policy {governing.name!r} refuses this transition: {first}{more}"


def _request_data(req: TransitionRequest) -> dict[str, Any]:
    return {
        "request_id": req.id,
        "from_stage": req.from_stage,
        "to_stage": req.to_stage,
        "state": req.state,
        "requested_by": req.requested_by,
        "requested_by_person": req.requested_by_person,
        "comment": req.comment,
        "policy": req.policy,
        "archive_existing_versions": req.archive_existing_versions,
        "required_approvals": req.required_approvals,
    }


def _add_approval(
    session: Session,
    principal: Principal,
    req: TransitionRequest,
    model_name: str,
    version: int,
    comment: str | None,
    now: dt.datetime,
) -> None:
    req.approvals.append(
        Approval(by=principal.id, person=principal.person, at=now, comment=comment)
    )
    session.flush()
    record(
        session,
        EventType.REQUEST_APPROVED,
        principal,
        model=model_name,
        version=version,
        data={
            "request_id": req.id,
            "to_stage": req.to_stage,
            "by": principal.id,
            "person": principal.person,
            "comment": comment,
            "approvals": len(req.approvals),
            "required_approvals": req.required_approvals,
        },
    )


def _record_break_glass(
    session: Session,
    principal: Principal,
    governing: Policy,
    req: TransitionRequest,
    model_name: str,
    version: int,
) -> None:
    record(
        session,
        EventType.BREAK_GLASS,
        principal,
        model=model_name,
        version=version,
        data={
            "request_id": req.id,
            "to_stage": req.to_stage,
            "policy": governing.name,
            "justification": req.break_glass,
            "overridden": list(req.break_glass_windows or []),
            "valid_until": (req.break_glass_at + BREAK_GLASS_VALIDITY).isoformat()
            if req.break_glass_at
            else None,
        },
    )


# --------------------------------------------------------------------------- decisions


def find_pending(
    session: Session,
    principal: Principal,
    name: str,
    version: int,
    to_stage: Stage | str,
    *,
    requested_by: str | None = None,
) -> int:
    """The id of the pending request to move ``name`` ``version`` into ``to_stage``, filed by
    ``requested_by`` (an id such as ``service:ci``, its bare subject, or the person behind
    it) when given.

    Databricks' approve, reject and cancel calls name a request this way rather than by id;
    there is at most one pending request per version and target stage. Raises NotFound.
    """
    to_stage = Stage.parse(to_stage)
    version = validation.version_number(version)
    name = lookup_name(name)
    permissions.require(principal, Action.READ, name)
    found = session.execute(
        sa.select(
            TransitionRequest.id,
            TransitionRequest.requested_by,
            TransitionRequest.requested_by_person,
        )
        .join(ModelVersion, ModelVersion.id == TransitionRequest.version_id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(
            RegisteredModel.name == name,
            ModelVersion.version == version,
            TransitionRequest.to_stage == to_stage.value,
            TransitionRequest.state == "pending",
        )
    ).one_or_none()
    if found is not None and requested_by in (
        None,
        found.requested_by,
        found.requested_by.partition(":")[2],
        found.requested_by_person,
    ):
        return found.id
    by = f" by {requested_by}" if requested_by is not None else ""
    raise NotFound(
        f"No pending request{by} to move {name!r} version {version} to {to_stage.value}."
    )


def _locked_request(
    session: Session, principal: Principal, request_id: int
) -> tuple[TransitionRequest, RegisteredModel, ModelVersion]:
    """The request, its model and version, locked in the order every writer uses (model
    first), and visible to the caller; NotFound otherwise. The model is locked by id, so a
    rename racing with an approval does not lose it."""
    request_id = validation.row_id(request_id, f"Transition request {request_id} not found.")
    found = session.execute(
        sa.select(RegisteredModel.id, RegisteredModel.name)
        .join(TransitionRequest, TransitionRequest.model_id == RegisteredModel.id)
        .where(TransitionRequest.id == request_id)
    ).one_or_none()
    if found is None:
        raise NotFound(f"Transition request {request_id} not found.")
    if not permissions.can(principal, Action.READ, found.name):
        # Answered like a missing request, so the model's name does not leak; recorded
        # as a refusal when the caller was trying to act on it.
        raise NotFound(f"Transition request {request_id} not found.", reason="outside_grants")
    model = lock_model_id(session, found.id)
    req = session.execute(
        sa.select(TransitionRequest)
        .where(TransitionRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if req is None:
        raise NotFound(f"Transition request {request_id} not found.")
    row = session.get(ModelVersion, req.version_id, with_for_update=True, populate_existing=True)
    assert row is not None  # the foreign key guarantees it
    return req, model, row


def _require_pending(req: TransitionRequest, now: dt.datetime) -> None:
    state = _state(req, now)
    if state != "pending":
        raise Conflict(
            f"Transition request {req.id} is {state}, no longer pending.",
            reason="not_pending",
            state=state,
        )


def _open_request(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    request_id: int,
    now: dt.datetime,
) -> tuple[TransitionRequest, RegisteredModel, ModelVersion, Policy]:
    """A pending request, locked with its model and version, and the policy governing it."""
    req, model, row = _locked_request(session, principal, request_id)
    _require_pending(req, now)
    governing = _governing(policies, model.name, Stage(req.from_stage), Stage(req.to_stage))
    return req, model, row, governing


def _require_eligible(
    principal: Principal, governing: Policy, model: str, req: TransitionRequest, verb: str
) -> None:
    if not policy.is_eligible_approver(principal, governing, model, Stage(req.from_stage)):
        roles = ", ".join(sorted(r.value for r in governing.approver_roles))
        raise PermissionDenied(
            f"{principal.id} may not {verb} moves of {model!r} into {req.to_stage} "
            f"(policy {governing.name!r} needs one of: {roles}).",
            reason="not_eligible_approver",
            policy=governing.name,
        )


def _require_another_person(
    principal: Principal, governing: Policy, req: TransitionRequest
) -> None:
    """Refuse an approval that would not add a person: the requester's own (when the policy
    forbids it) or a second one by someone who already approved, whatever the token."""
    if governing.forbid_self_approval and principal.person == req.requested_by_person:
        if principal.id == req.requested_by:
            message = f"{principal.id} filed this request"
        else:
            message = (
                f"{req.requested_by} filed this request for {req.requested_by_person}, the "
                f"person behind {principal.id} too"
            )
        check: Check = {
            "check": "self_approval",
            "policy": governing.name,
            "person": principal.person,
            "requested_by": req.requested_by,
            "message": f"{message}; nobody approves their own request.",
        }
        raise PolicyViolation(
            f"Policy {governing.name!r} forbids approving your own request: {check['message']}",
            failed_checks=[check],
        )
    earlier = next((a for a in req.approvals if a.person == principal.person), None)
    if earlier is not None:
        if earlier.by == principal.id:
            message = f"{principal.id} already approved request {req.id}"
        else:
            message = (
                f"{earlier.by} already approved request {req.id} for {earlier.person}, the "
                f"person behind {principal.id} too"
            )
        check = {
            "check": "distinct_approvers",
            "policy": governing.name,
            "person": principal.person,
            "earlier_approval": {"by": earlier.by, "at": earlier.at.isoformat()},
            "message": f"{message}; each approval must come from a different person.",
        }
        raise PolicyViolation(
            f"Policy {governing.name!r} counts each person once: {check['message']}",
            failed_checks=[check],
        )


def approve(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    request_id: int,
    *,
    comment: str | None = None,
    break_glass: str | None = None,
    archive_existing_versions: bool | None = None,
    now: dt.datetime | None = None,
) -> TransitionInfo:
    """Record ``principal``'s approval; apply the transition when the quorum is reached.

    The policy in force now decides who may approve and how many approvals are needed; the
    gates are checked again before applying, and if they fail nothing is recorded.
    ``archive_existing_versions``, when given, replaces the request's own flag (Databricks'
    approve call carries one: the approver decides whether the incumbents are archived).
    Approvals are counted by person: the requester's person may not approve when the policy
    forbids self-approval (check ``self_approval``), and a person who approved once may not
    again, through this token or another of theirs (check ``distinct_approvers``); both are
    PolicyViolation, whichever token is used.

    Raises NotFound, Conflict (no longer pending), PermissionDenied (not an eligible
    approver) or PolicyViolation.
    """
    now = now or utcnow()
    comment = validation.comment(comment)
    req, model, row, governing = _open_request(session, principal, policies, request_id, now)
    _require_eligible(principal, governing, model.name, req, "approve")
    _require_another_person(principal, governing, req)
    if archive_existing_versions is not None:
        req.archive_existing_versions = _archive_flag(
            Stage(req.to_stage), archive_existing_versions, governing
        )
    justification = _justification(principal, model.name, break_glass)
    if justification is not None:
        _break_glass(req, justification, governing, now)
        _record_break_glass(session, principal, governing, req, model.name, row.version)
    req.required_approvals = governing.min_approvals
    _add_approval(session, principal, req, model.name, row.version, comment, now)
    if _counted(req, governing) >= governing.min_approvals:
        _apply(session, principal, policies, governing, model, row, req, now)
    return _info(req, model.name, row.version, now)


def reject(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    request_id: int,
    *,
    comment: str | None = None,
    now: dt.datetime | None = None,
) -> TransitionInfo:
    """An eligible approver turns the request down; one rejection ends it."""
    now = now or utcnow()
    comment = validation.comment(comment)
    req, model, row, governing = _open_request(session, principal, policies, request_id, now)
    _require_eligible(principal, governing, model.name, req, "reject")
    if principal.person == req.requested_by_person:
        raise PermissionDenied(
            "Cancel your own request rather than reject it.", reason="own_request"
        )
    _close(
        session,
        principal,
        req,
        model.name,
        row.version,
        "rejected",
        comment,
        now,
        EventType.REQUEST_REJECTED,
    )
    return _info(req, model.name, row.version, now)


def cancel(
    session: Session,
    principal: Principal,
    request_id: int,
    *,
    comment: str | None = None,
    now: dt.datetime | None = None,
) -> TransitionInfo:
    """The requester (the same person, with any of their tokens) or whoever manages the
    model withdraws the request."""
    now = now or utcnow()
    comment = validation.comment(comment)
    req, model, row = _locked_request(session, principal, request_id)
    _require_pending(req, now)
    if not _may_cancel(principal, principal.person == req.requested_by_person, model.name):
        permissions.require(principal, Action.MANAGE, model.name)
    _close(
        session,
        principal,
        req,
        model.name,
        row.version,
        "cancelled",
        comment,
        now,
        EventType.REQUEST_CANCELLED,
    )
    return _info(req, model.name, row.version, now)


def _close(
    session: Session,
    principal: Principal,
    req: TransitionRequest,
    model_name: str,
    version: int,
    state: str,
    comment: str | None,
    now: dt.datetime,
    event: EventType,
    **extra: Any,
) -> None:
    req.state = state
    req.decided_at = now
    req.decided_by = principal.id
    req.decision_comment = comment
    session.flush()
    record(
        session,
        event,
        principal,
        model=model_name,
        version=version,
        data={**_request_data(req), "decided_by": principal.id, "comment": comment, **extra},
    )


def _expire(
    session: Session, req: TransitionRequest, model_name: str, version: int, now: dt.datetime
) -> None:
    req.state = "expired"
    req.decided_at = now
    req.decided_by = system().id
    session.flush()
    record(
        session,
        EventType.REQUEST_EXPIRED,
        system(),
        model=model_name,
        version=version,
        data={
            **_request_data(req),
            "expires_at": req.expires_at.isoformat() if req.expires_at else None,
        },
    )


def expire_due(session: Session, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Record as expired the pending requests whose time is up (the periodic sweep)."""
    now = now or utcnow()
    due = session.execute(
        sa.select(TransitionRequest.id, RegisteredModel.name)
        .join(RegisteredModel, RegisteredModel.id == TransitionRequest.model_id)
        .where(TransitionRequest.state == "pending", TransitionRequest.expires_at <= now)
        .order_by(TransitionRequest.id)
        .limit(limit)
    ).all()
    expired = []
    for request_id, model_name in due:
        model = lock_model(session, model_name)
        req = session.execute(
            sa.select(TransitionRequest)
            .where(TransitionRequest.id == request_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        if req.state != "pending":
            continue
        row = session.get(ModelVersion, req.version_id)
        assert row is not None
        _expire(session, req, model.name, row.version, now)
        expired.append(request_id)
    return expired


# --------------------------------------------------------------------------- applying


def _apply(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    governing: Policy,
    model: RegisteredModel,
    row: ModelVersion,
    req: TransitionRequest,
    now: dt.datetime,
) -> None:
    """Move the version, archive the incumbents when asked, close the request, record it all.

    Everything that might have changed since the request was filed is checked again under the
    model's lock: the version's stage, the gates, the freeze windows (unless an admin broke
    the glass), the stage's exclusivity, and (for moves into Staging or Production) the
    version's files in the artifact store against its digest. Incumbents' "Archived" events
    are recorded before the promoted version's own, so replaying the events in order never
    shows two versions in an exclusive stage at once.
    """
    to_stage = Stage(req.to_stage)
    if row.stage != req.from_stage:
        raise Conflict(
            f"Version {row.version} of {model.name!r} moved to {row.stage} after request "
            f"{req.id} was filed (from {req.from_stage}); file a new request.",
            reason="stage_moved",
        )
    failed = _policy_checks(
        session,
        governing,
        model,
        row,
        req.archive_existing_versions,
        _overridden(req, now),
        now,
    )
    # Files changed behind Modelgate's back keep a version out of the serving stages; taking
    # one out of service is never refused for it (its event notes the mismatch instead).
    mismatch = artifacts.recheck(session, row)
    if to_stage.is_active:
        failed += mismatch
    if failed:
        raise PolicyViolation(
            _violation_message(governing, failed),
            failed_checks=failed,
            context={"policy": governing.name, "request_id": req.id, "to_stage": req.to_stage},
        )
    archived: list[int] = []
    if req.archive_existing_versions:
        for other in _incumbents(session, model.id, to_stage, row.id, lock=True):
            other.stage, other.exclusive, other.updated_at = Stage.ARCHIVED.value, False, now
            archived.append(other.version)
            session.flush()
            record(
                session,
                EventType.STAGE_CHANGED,
                principal,
                model=model.name,
                version=other.version,
                data={
                    "from_stage": to_stage.value,
                    "to_stage": Stage.ARCHIVED.value,
                    "request_id": req.id,
                    "archived_versions": [],
                    "archived_by_version": row.version,
                },
            )
            _supersede(session, principal, model.name, other, req, now)
            release_stage_bound_aliases(
                session,
                principal,
                policies,
                model,
                other.version,
                to_stage,
                successor=row.version,
                request_id=req.id,
            )
    from_stage = row.stage
    row.stage, row.updated_at = to_stage.value, now
    row.exclusive = governing.exclusive and to_stage.is_active
    touch(model, now)
    req.state, req.decided_at, req.decided_by = "applied", now, principal.id
    req.archived_versions = archived
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the exclusive-stage index: a racing writer got there first
        raise Conflict(
            f"{to_stage.value} of {model.name!r} changed at the same moment; retry."
        ) from None
    record(
        session,
        EventType.STAGE_CHANGED,
        principal,
        model=model.name,
        version=row.version,
        data={
            "from_stage": from_stage,
            "to_stage": to_stage.value,
            "request_id": req.id,
            "archived_versions": archived,
            **({"digest_mismatch": mismatch[0]["files"]} if mismatch else {}),
        },
    )
    record(
        session,
        EventType.REQUEST_APPLIED,
        principal,
        model=model.name,
        version=row.version,
        data={
            **_request_data(req),
            "archived_versions": archived,
            "approved_by": [a.by for a in req.approvals],
            "approved_by_people": list(dict.fromkeys(a.person for a in req.approvals)),
        },
    )
    _supersede(session, principal, model.name, row, req, now)
    release_stage_bound_aliases(session, principal, policies, model, row.version, Stage(from_stage))


def _supersede(
    session: Session,
    principal: Principal,
    model_name: str,
    row: ModelVersion,
    applied: TransitionRequest,
    now: dt.datetime,
) -> None:
    """Close the version's other pending requests: they were filed from a stage it has left.

    The system closes them (they were not withdrawn by anyone), as superseded; one already
    past its expiry is recorded as expired.
    """
    others = (
        session.execute(
            sa.select(TransitionRequest)
            .where(
                TransitionRequest.version_id == row.id,
                TransitionRequest.state == "pending",
                TransitionRequest.id != applied.id,
            )
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for other in others:
        if _state(other, now) == "expired":
            _expire(session, other, model_name, row.version, now)
            continue
        _close(
            session,
            system(),
            other,
            model_name,
            row.version,
            "cancelled",
            f"Superseded: request {applied.id} moved version {row.version} to {row.stage}.",
            now,
            EventType.REQUEST_CANCELLED,
            reason="superseded",
            superseded_by=applied.id,
        )


# --------------------------------------------------------------------------- reads


def get_request(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    request_id: int,
    now: dt.datetime | None = None,
) -> TransitionInfo:
    now = now or utcnow()
    request_id = validation.row_id(request_id, f"Transition request {request_id} not found.")
    page = _select(
        session,
        principal,
        policies,
        now,
        lambda stmt: stmt.where(TransitionRequest.id == request_id),
        limit=1,
    )
    if not page:
        raise NotFound(f"Transition request {request_id} not found.")
    return page[0]


def list_requests(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    *,
    state: str | None = None,
    model: str | None = None,
    version: int | None = None,
    max_results: int | None = None,
    after: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Page[TransitionInfo]:
    """Requests the caller may see, newest first, by state, model and version."""
    now = now or utcnow()
    limit = check_max_results(max_results)
    if state is not None and state not in STATES:
        raise InvalidArgument(f"state must be one of {', '.join(STATES)}.", field="state")
    if version is not None:
        version = validation.version_number(version)
    if after is not None and not isinstance(after.get("id"), int):
        raise InvalidArgument("page_token is malformed.", field="page_token")
    if model is not None and not permissions.can(principal, Action.READ, model):
        return Page([], None)

    def narrow(stmt: sa.Select[Any]) -> sa.Select[Any]:
        if state == "pending":
            stmt = stmt.where(_awaiting(now))
        elif state == "expired":
            stmt = stmt.where(
                sa.or_(
                    TransitionRequest.state == "expired",
                    sa.and_(
                        TransitionRequest.state == "pending", TransitionRequest.expires_at <= now
                    ),
                )
            )
        elif state is not None:
            stmt = stmt.where(TransitionRequest.state == state)
        if model is not None:
            stmt = stmt.where(RegisteredModel.name == model)
        if version is not None:
            stmt = stmt.where(ModelVersion.version == version)
        stmt = stmt.where(search.readable(principal))
        if after is not None:
            stmt = stmt.where(TransitionRequest.id < after["id"])
        return stmt

    rows = _select(session, principal, policies, now, narrow, limit=limit + 1)
    return paginate(rows, limit, lambda r: {"id": r.id})


def _awaiting(now: dt.datetime) -> Any:
    """Pending and not yet past its expiry (the sweep may not have recorded it yet)."""
    return sa.and_(
        TransitionRequest.state == "pending",
        sa.or_(TransitionRequest.expires_at.is_(None), TransitionRequest.expires_at > now),
    )


def _select(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    now: dt.datetime,
    narrow: Any,
    limit: int,
) -> list[TransitionInfo]:
    stmt = (
        sa.select(TransitionRequest, RegisteredModel.name, ModelVersion.version)
        .join(RegisteredModel, RegisteredModel.id == TransitionRequest.model_id)
        .join(ModelVersion, ModelVersion.id == TransitionRequest.version_id)
        .order_by(TransitionRequest.id.desc())
        .limit(limit)
    )
    rows = session.execute(narrow(stmt)).all()
    if not rows:
        return []
    ids = [r[0].id for r in rows]
    approvals: dict[int, list[Approval]] = {}
    for a in session.execute(
        sa.select(Approval).where(Approval.request_id.in_(ids)).order_by(Approval.id)
    ).scalars():
        approvals.setdefault(a.request_id, []).append(a)
    result = []
    for req, model_name, version in rows:
        if not permissions.can(principal, Action.READ, model_name):
            continue
        info = _info(req, model_name, version, now, approvals.get(req.id, []))
        actions = available_actions(principal, policies, info)
        result.append(dataclasses.replace(info, available_actions=actions))
    return result


def close_pending(
    session: Session,
    principal: Principal,
    model_name: str,
    rows: Sequence[ModelVersion],
    reason: str,
    now: dt.datetime,
) -> None:
    """Close the pending requests of versions about to disappear, saying why."""
    versions_by_id = {r.id: r.version for r in rows}
    pending = session.execute(
        sa.select(TransitionRequest)
        .where(
            TransitionRequest.version_id.in_(list(versions_by_id)),
            TransitionRequest.state == "pending",
        )
        .order_by(TransitionRequest.id)
        .with_for_update()
    ).scalars()
    for req in pending:
        version = versions_by_id[req.version_id]
        if _state(req, now) == "expired":
            _expire(session, req, model_name, version, now)
        else:
            _close(
                session,
                principal,
                req,
                model_name,
                version,
                "cancelled",
                f"Closed: {reason}.",
                now,
                EventType.REQUEST_CANCELLED,
                reason=reason,
            )


# --------------------------------------------------------------------------- the console


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One thing the governing policy checks, and whether the request passes it now."""

    check: str
    label: str
    passed: bool
    message: str | None = None


def _matching(failed: list[Check], kind: str, **fields: Any) -> Check | None:
    for item in failed:
        if item["check"] == kind and all(item.get(k) == v for k, v in fields.items()):
            return item
    return None


def request_checks(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    request_id: int,
    now: dt.datetime | None = None,
) -> list[CheckResult]:
    """Every check the policy governing a request makes, passed or failed as things stand.

    The failures come from the very checks :func:`approve` runs before applying (gates,
    freeze windows, stage exclusivity); the passes are the rest of what the policy lists,
    and the quorum comes last. Raises NotFound when the caller cannot see the request.
    """
    now = now or utcnow()
    info = get_request(session, principal, policies, request_id, now)
    from_stage = Stage(info.from_stage)
    governing = policies.for_transition(info.name, from_stage, Stage(info.to_stage))
    if governing is None:
        check = policy.no_policy(info.name, from_stage, Stage(info.to_stage))
        return [CheckResult("no_policy", "A policy governs this move", False, check["message"])]
    req = session.get(TransitionRequest, info.id)
    assert req is not None  # get_request found it
    model = session.get(RegisteredModel, req.model_id)
    row = session.get(ModelVersion, req.version_id)
    assert model is not None  # the foreign keys guarantee both
    assert row is not None
    failed = _policy_checks(
        session, governing, model, row, req.archive_existing_versions, _overridden(req, now), now
    )
    results: list[tuple[str, str, Check | None]] = []
    for key, allowed in governing.required_tags.items():
        wanted = f" in {', '.join(allowed)}" if allowed else ""
        results.append(
            ("required_tag", f"Tag {key}{wanted}", _matching(failed, "required_tag", key=key))
        )
    if governing.require_description:
        results.append(
            ("required_description", "Has a description", _matching(failed, "required_description"))
        )
    for gate in governing.metrics:
        results.append(
            ("metric", gate.expression, _matching(failed, "metric", expression=gate.expression))
        )
    if governing.source_schemes is not None:
        schemes = ", ".join(sorted(governing.source_schemes))
        results.append(
            ("source_scheme", f"Source is {schemes}", _matching(failed, "source_scheme"))
        )
    if governing.require_digest:
        results.append(("digest", "Has a digest of its files", _matching(failed, "digest")))
    for window in governing.freeze:
        results.append(
            (
                "freeze",
                f"Not frozen ({window.name}: {window.describe()})",
                _matching(failed, "freeze", window=window.name),
            )
        )
    if governing.exclusive:
        label = f"{governing.stage.value} holds one version" + (
            " (the incumbent is archived)" if req.archive_existing_versions else ""
        )
        results.append(("exclusive_stage", label, _matching(failed, "exclusive_stage")))
    checks = [
        CheckResult(kind, label, problem is None, problem["message"] if problem else None)
        for kind, label, problem in results
    ]
    counted = _counted(req, governing)
    who = ", ".join(sorted(r.value for r in governing.approver_roles))
    checks.append(
        CheckResult(
            "approvals",
            f"{counted} of {governing.min_approvals} approval(s) from: {who}"
            + (" (not the requester)" if governing.forbid_self_approval else ""),
            counted >= governing.min_approvals,
        )
    )
    return checks


def pending_counts(
    session: Session, principal: Principal, names: Sequence[str], now: dt.datetime | None = None
) -> dict[str, int]:
    """How many requests await a decision on each of the named models the caller may read."""
    now = now or utcnow()
    visible = [n for n in names if permissions.can(principal, Action.READ, n)]
    if not visible:
        return {}
    rows = session.execute(
        sa.select(RegisteredModel.name, sa.func.count(TransitionRequest.id))
        .join(TransitionRequest, TransitionRequest.model_id == RegisteredModel.id)
        .where(RegisteredModel.name.in_(visible), _awaiting(now))
        .group_by(RegisteredModel.name)
    ).all()
    return {name: count for name, count in rows}
