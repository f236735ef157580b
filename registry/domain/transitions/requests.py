"""Filing a transition request, and its dry run.

:func:`request_transition` files a request to move a version into a stage and applies it at
once when the policy needs no further approval (the requester's own approval counts when
:mod:`registry.domain.transitions.quorum` says so). :func:`evaluate` runs every check a
request would meet, without changing anything (POST /policies/evaluate).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.domain import permissions, policy, readmodels, validation
from registry.domain.errors import Conflict, NotFound, PermissionDenied, PolicyViolation
from registry.domain.events import EventType, record
from registry.domain.locking import find_model, lock_model, lock_version
from registry.domain.permissions import Action
from registry.domain.policy import Check, PolicySet
from registry.domain.principal import Principal
from registry.domain.stages import Stage, move_problem, require_move
from registry.domain.transitions.apply import apply_transition
from registry.domain.transitions.breakglass import (
    check_justification,
    override_freeze,
    record_break_glass,
)
from registry.domain.transitions.checks import (
    archive_flag,
    governing_policy,
    policy_checks,
    violation_message,
)
from registry.domain.transitions.info import Evaluation, TransitionInfo, to_info
from registry.domain.transitions.lifecycle import add_approval, expire, request_data
from registry.domain.transitions.quorum import counted, own_approval_counts
from registry.domain.transitions.states import RequestState, state_of
from registry.orm import ModelVersion, TransitionRequest
from registry.orm.base import utcnow


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
    archive = archive_flag(to_stage, archive_existing_versions, governing)
    pending = _pending(session, row.id, to_stage, lock=False)
    if pending is not None and state_of(pending, now) == RequestState.PENDING:
        failed.append(
            {
                "check": "pending_request",
                "request_id": pending.id,
                "message": f"Request {pending.id} for this move is already pending.",
            }
        )
    failed += policy_checks(session, governing, model, row, archive, frozenset(), now)
    own = own_approval_counts(principal, governing, name, from_stage)
    needed = max(governing.min_approvals - (1 if own else 0), 0)
    return Evaluation(not failed, governing.name, governing.min_approvals, needed, failed)


def _pending(
    session: Session, version_id: int, to_stage: Stage, lock: bool = True
) -> TransitionRequest | None:
    stmt = sa.select(TransitionRequest).where(
        TransitionRequest.version_id == version_id,
        TransitionRequest.to_stage == to_stage.value,
        TransitionRequest.state == RequestState.PENDING,
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
    justification = check_justification(principal, name, break_glass)
    model = lock_model(session, name)
    row = lock_version(session, model, version)
    if precondition is not None:
        precondition(readmodels.version_info(session, row.id))
    from_stage = Stage(row.stage)
    require_move(from_stage, to_stage)
    governing = governing_policy(policies, model.name, from_stage, to_stage)
    archive = archive_flag(to_stage, archive_existing_versions, governing)
    existing = _pending(session, row.id, to_stage)
    if existing is not None and state_of(existing, now) == RequestState.EXPIRED:
        expire(session, existing, model.name, row.version, now)
        existing = None
    if existing is not None:
        raise _already_pending(existing, name, version, to_stage)
    counts_self = own_approval_counts(principal, governing, model.name, from_stage)
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
        state=RequestState.PENDING.value,
        requested_by=principal.id,
        requested_by_person=principal.person,
        requested_at=now,
        comment=comment,
        archive_existing_versions=archive,
        required_approvals=governing.min_approvals,
        policy=governing.name,
        expires_at=now + governing.expire_after if governing.expire_after else None,
    )
    windows = override_freeze(req, justification, governing, now) if justification else []
    failed = policy_checks(session, governing, model, row, archive, frozenset(windows), now)
    if failed:
        raise PolicyViolation(
            violation_message(governing, failed),
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
        data=request_data(req),
    )
    if justification is not None:
        record_break_glass(session, principal, governing, req, model.name, row.version)
    if governing.min_approvals > 0 and counts_self:
        add_approval(session, principal, req, model.name, row.version, None, now)
    if governing.min_approvals == 0 or counted(req, governing) >= governing.min_approvals:
        apply_transition(session, principal, policies, governing, model, row, req, now)
    return to_info(req, model.name, row.version, now)


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
