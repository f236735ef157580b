"""What each step of a request writes: its approvals, its closing (rejected, cancelled,
expired), and the request's fields every event about it carries.

Each of these changes the request's row and records its event in the same breath, so no
caller can do one without the other.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from registry.domain.events import EventType, record
from registry.domain.principal import Principal, system
from registry.domain.transitions.states import RequestState
from registry.orm import Approval, TransitionRequest


def request_data(req: TransitionRequest) -> dict[str, Any]:
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


def add_approval(
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


def close(
    session: Session,
    principal: Principal,
    req: TransitionRequest,
    model_name: str,
    version: int,
    state: RequestState,
    comment: str | None,
    now: dt.datetime,
    event: EventType,
    **extra: Any,
) -> None:
    req.state = state.value
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
        data={**request_data(req), "decided_by": principal.id, "comment": comment, **extra},
    )


def expire(
    session: Session, req: TransitionRequest, model_name: str, version: int, now: dt.datetime
) -> None:
    req.state = RequestState.EXPIRED.value
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
            **request_data(req),
            "expires_at": req.expires_at.isoformat() if req.expires_at else None,
        },
    )
