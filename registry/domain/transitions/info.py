"""What a transition request looks like to its readers: the request, its approvals, a dry run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from registry.domain.policy import Check
from registry.domain.transitions.states import RequestState, state_of
from registry.orm import Approval, TransitionRequest


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
    state: RequestState
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


def to_info(
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
        state=state_of(req, now),
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
