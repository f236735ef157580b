"""Stage changes. There is one path to a version's stage: :func:`_apply`.

Every stage change is a transition request. :func:`request_transition` files one and, when
nothing stands in the way, applies it in the same transaction, so the answer is a request
whose state is already ``applied``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import permissions, validation
from registry.domain.errors import InvalidArgument
from registry.domain.events import EventType, record
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.registered_models import lock_model, touch
from registry.domain.stages import Stage, require_move
from registry.domain.versions import lock_version
from registry.orm import ModelVersion, RegisteredModel, TransitionRequest
from registry.orm.base import utcnow


@dataclass(frozen=True, slots=True)
class ApprovalInfo:
    by: str
    at: dt.datetime
    comment: str | None


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
    archived_versions: list[int] = field(default_factory=list)


def transition_info(model_name: str, version: int, req: TransitionRequest) -> TransitionInfo:
    return TransitionInfo(
        id=req.id,
        name=model_name,
        version=version,
        from_stage=req.from_stage,
        to_stage=req.to_stage,
        state=req.state,
        requested_by=req.requested_by,
        requested_at=req.requested_at,
        comment=req.comment,
        archive_existing_versions=req.archive_existing_versions,
        required_approvals=req.required_approvals,
        decided_at=req.decided_at,
        decided_by=req.decided_by,
        archived_versions=list(req.archived_versions or []),
    )


def check_archive_flag(to_stage: Stage, archive_existing_versions: bool | None) -> None:
    if archive_existing_versions and not to_stage.is_active:
        raise InvalidArgument(
            "archive_existing_versions applies only to transitions into Staging or Production.",
            field="archive_existing_versions",
        )


def request_transition(
    session: Session,
    principal: Principal,
    name: str,
    version: int,
    *,
    to_stage: Stage | str,
    comment: str | None = None,
    archive_existing_versions: bool | None = None,
) -> TransitionInfo:
    """Ask to move a version to ``to_stage``, applying it at once.

    Raises NotFound, PermissionDenied, InvalidArgument, or InvalidTransition when the stage
    table has no such move.
    """
    to_stage = Stage.parse(to_stage)
    version = validation.version_number(version)
    comment = validation.comment(comment)
    check_archive_flag(to_stage, archive_existing_versions)
    permissions.require(principal, Action.REQUEST_TRANSITION, name)
    model = lock_model(session, name)
    row = lock_version(session, model, version)
    from_stage = Stage(row.stage)
    require_move(from_stage, to_stage)
    now = utcnow()
    req = TransitionRequest(
        model_id=model.id,
        version_id=row.id,
        from_stage=from_stage.value,
        to_stage=to_stage.value,
        state="pending",
        requested_by=principal.id,
        requested_at=now,
        comment=comment,
        archive_existing_versions=bool(archive_existing_versions),
        required_approvals=0,
    )
    session.add(req)
    session.flush()
    record(
        session,
        EventType.REQUEST_CREATED,
        principal,
        model=name,
        version=version,
        data=_request_data(req),
    )
    _apply(session, principal, model, row, req)
    return transition_info(model.name, row.version, req)


def _request_data(req: TransitionRequest) -> dict[str, object]:
    return {
        "request_id": req.id,
        "from_stage": req.from_stage,
        "to_stage": req.to_stage,
        "comment": req.comment,
        "archive_existing_versions": req.archive_existing_versions,
        "required_approvals": req.required_approvals,
    }


def _apply(
    session: Session,
    principal: Principal,
    model: RegisteredModel,
    row: ModelVersion,
    req: TransitionRequest,
) -> None:
    """Move the version, archive the incumbents when asked, close the request, record it all.

    The caller holds the model's row lock, so no other stage change of this model can
    interleave. Incumbents' "Archived" events are recorded before the promoted version's own,
    so replaying the events in order never shows two versions in the target stage at once.
    """
    to_stage = Stage(req.to_stage)
    now = utcnow()
    archived: list[int] = []
    if req.archive_existing_versions:
        incumbents = (
            session.execute(
                sa.select(ModelVersion)
                .where(
                    ModelVersion.model_id == model.id,
                    ModelVersion.stage == to_stage.value,
                    ModelVersion.id != row.id,
                )
                .order_by(ModelVersion.version)
                .with_for_update()
            )
            .scalars()
            .all()
        )
        for other in incumbents:
            other.stage = Stage.ARCHIVED.value
            other.updated_at = now
            archived.append(other.version)
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
    from_stage = row.stage
    row.stage = to_stage.value
    row.updated_at = now
    touch(model)
    req.state = "applied"
    req.decided_at = now
    req.decided_by = principal.id
    req.archived_versions = archived
    session.flush()
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
        },
    )
    record(
        session,
        EventType.REQUEST_APPLIED,
        principal,
        model=model.name,
        version=row.version,
        data={**_request_data(req), "archived_versions": archived},
    )
