"""Deciding on transition requests: approve, reject, cancel, and expiry.

Every decision locks the model's row (then the request's), so all stage changes of one
model are serialised: two approvers racing for the last approval end with one ``applied``
and one ``CONFLICT``. The policy in force *now* decides who may approve and how many
approvals are needed; whose approvals count is :mod:`registry.domain.transitions.quorum`'s
rule. The approval that completes the quorum applies the transition
(:mod:`registry.domain.transitions.apply`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import permissions, policy, validation
from registry.domain.errors import Conflict, NotFound, PermissionDenied, PolicyViolation
from registry.domain.events import EventType
from registry.domain.locking import lock_model, lock_model_id, lookup_name
from registry.domain.permissions import Action
from registry.domain.policy import Check, Policy, PolicySet
from registry.domain.principal import Principal
from registry.domain.stages import Stage
from registry.domain.transitions.actions import may_cancel
from registry.domain.transitions.apply import apply_transition
from registry.domain.transitions.breakglass import (
    check_justification,
    override_freeze,
    record_break_glass,
)
from registry.domain.transitions.checks import archive_flag, governing_policy
from registry.domain.transitions.info import TransitionInfo, to_info
from registry.domain.transitions.lifecycle import add_approval, close, expire
from registry.domain.transitions.quorum import NotCounted, counted, is_requester, why_not_counted
from registry.domain.transitions.states import RequestState, state_of
from registry.orm import ModelVersion, RegisteredModel, TransitionRequest
from registry.orm.base import utcnow


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
            TransitionRequest.state == RequestState.PENDING,
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
    state = state_of(req, now)
    if state != RequestState.PENDING:
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
    governing = governing_policy(policies, model.name, Stage(req.from_stage), Stage(req.to_stage))
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
    """Refuse an approval that would not count (:mod:`registry.domain.transitions.quorum`):
    the requester's own (when the policy forbids it) or a second one by someone who already
    approved, whatever the token."""
    refused = why_not_counted(
        governing,
        principal.person,
        requester=req.requested_by_person,
        earlier={a.person for a in req.approvals},
    )
    if refused is NotCounted.SELF_APPROVAL:
        if principal.id == req.requested_by:
            message = f"{principal.id} filed this request"
        else:
            message = (
                f"{req.requested_by} filed this request for {req.requested_by_person}, the "
                f"person behind {principal.id} too"
            )
        check: Check = {
            "check": NotCounted.SELF_APPROVAL.value,
            "policy": governing.name,
            "person": principal.person,
            "requested_by": req.requested_by,
            "message": f"{message}; nobody approves their own request.",
        }
        raise PolicyViolation(
            f"Policy {governing.name!r} forbids approving your own request: {check['message']}",
            failed_checks=[check],
        )
    if refused is NotCounted.DISTINCT_APPROVERS:
        earlier = next(a for a in req.approvals if a.person == principal.person)
        if earlier.by == principal.id:
            message = f"{principal.id} already approved request {req.id}"
        else:
            message = (
                f"{earlier.by} already approved request {req.id} for {earlier.person}, the "
                f"person behind {principal.id} too"
            )
        check = {
            "check": NotCounted.DISTINCT_APPROVERS.value,
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
        req.archive_existing_versions = archive_flag(
            Stage(req.to_stage), archive_existing_versions, governing
        )
    justification = check_justification(principal, model.name, break_glass)
    if justification is not None:
        override_freeze(req, justification, governing, now)
        record_break_glass(session, principal, governing, req, model.name, row.version)
    req.required_approvals = governing.min_approvals
    add_approval(session, principal, req, model.name, row.version, comment, now)
    if counted(req, governing) >= governing.min_approvals:
        apply_transition(session, principal, policies, governing, model, row, req, now)
    return to_info(req, model.name, row.version, now)


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
    if is_requester(principal.person, req.requested_by_person):
        raise PermissionDenied(
            "Cancel your own request rather than reject it.", reason="own_request"
        )
    close(
        session,
        principal,
        req,
        model.name,
        row.version,
        RequestState.REJECTED,
        comment,
        now,
        EventType.REQUEST_REJECTED,
    )
    return to_info(req, model.name, row.version, now)


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
    own = is_requester(principal.person, req.requested_by_person)
    if not may_cancel(principal, own, model.name):
        permissions.require(principal, Action.MANAGE, model.name)
    close(
        session,
        principal,
        req,
        model.name,
        row.version,
        RequestState.CANCELLED,
        comment,
        now,
        EventType.REQUEST_CANCELLED,
    )
    return to_info(req, model.name, row.version, now)


def expire_due(session: Session, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Record as expired the pending requests whose time is up (the periodic sweep)."""
    now = now or utcnow()
    due = session.execute(
        sa.select(TransitionRequest.id, RegisteredModel.name)
        .join(RegisteredModel, RegisteredModel.id == TransitionRequest.model_id)
        .where(TransitionRequest.state == RequestState.PENDING, TransitionRequest.expires_at <= now)
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
        if req.state != RequestState.PENDING:
            continue
        row = session.get(ModelVersion, req.version_id)
        assert row is not None
        expire(session, req, model.name, row.version, now)
        expired.append(request_id)
    return expired


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
            TransitionRequest.state == RequestState.PENDING,
        )
        .order_by(TransitionRequest.id)
        .with_for_update()
    ).scalars()
    for req in pending:
        version = versions_by_id[req.version_id]
        if state_of(req, now) == RequestState.EXPIRED:
            expire(session, req, model_name, version, now)
        else:
            close(
                session,
                principal,
                req,
                model_name,
                version,
                RequestState.CANCELLED,
                f"Closed: {reason}.",
                now,
                EventType.REQUEST_CANCELLED,
                reason=reason,
            )
