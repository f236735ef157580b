"""Applying a transition: the one path to a version's stage.

Every way in (a request needing no further approval, the approval that completes a quorum,
the MLflow layer's direct transitions) reaches :func:`apply_transition`, under the model's
lock, which checks everything again, moves the version (archiving the incumbents when
asked), closes the request and the version's other pending requests, releases the aliases
bound to the stages it left, and records it all.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.domain.errors import Conflict, PolicyViolation
from registry.domain.events import EventType, record
from registry.domain.locking import touch
from registry.domain.policy import Policy, PolicySet
from registry.domain.principal import Principal, system
from registry.domain.registered_models import release_stage_bound_aliases
from registry.domain.stages import Stage
from registry.domain.transitions.breakglass import overridden_windows
from registry.domain.transitions.checks import (
    digest_recheck,
    incumbents,
    policy_checks,
    violation_message,
)
from registry.domain.transitions.lifecycle import close, expire, request_data
from registry.domain.transitions.states import RequestState, state_of
from registry.orm import ModelVersion, RegisteredModel, TransitionRequest


def apply_transition(
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
    failed = policy_checks(
        session,
        governing,
        model,
        row,
        req.archive_existing_versions,
        overridden_windows(req, now),
        now,
    )
    # Files changed behind Modelgate's back keep a version out of the serving stages; taking
    # one out of service is never refused for it (its event notes the mismatch instead).
    mismatch = digest_recheck(session, row)
    if to_stage.is_active:
        failed += mismatch
    if failed:
        raise PolicyViolation(
            violation_message(governing, failed),
            failed_checks=failed,
            context={"policy": governing.name, "request_id": req.id, "to_stage": req.to_stage},
        )
    archived: list[int] = []
    if req.archive_existing_versions:
        for other in incumbents(session, model.id, to_stage, row.id, lock=True):
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
    req.state, req.decided_at, req.decided_by = RequestState.APPLIED.value, now, principal.id
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
            **request_data(req),
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
                TransitionRequest.state == RequestState.PENDING,
                TransitionRequest.id != applied.id,
            )
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for other in others:
        if state_of(other, now) == RequestState.EXPIRED:
            expire(session, other, model_name, row.version, now)
            continue
        close(
            session,
            system(),
            other,
            model_name,
            row.version,
            RequestState.CANCELLED,
            f"Superseded: request {applied.id} moved version {row.version} to {row.stage}.",
            now,
            EventType.REQUEST_CANCELLED,
            reason="superseded",
            superseded_by=applied.id,
        )
