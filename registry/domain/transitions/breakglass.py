"""Break-glass: an admin's justified override of the freeze windows open now.

The override is recorded on the request (and as its own event) and covers only the windows
open when it was given, for :data:`BREAK_GLASS_VALIDITY`: enough for the approvals an
emergency still needs, not enough to outlive the emergency. Gates and approvals still apply.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from registry.domain import permissions, policy, validation
from registry.domain.errors import InvalidArgument
from registry.domain.events import EventType, record
from registry.domain.permissions import Action
from registry.domain.policy import Policy
from registry.domain.principal import Principal
from registry.orm import TransitionRequest

MIN_JUSTIFICATION = 10


# A break-glass overrides the freeze windows open when it was given, for this long: enough
# for the approvals an emergency still needs, not enough to outlive the emergency.
BREAK_GLASS_VALIDITY = dt.timedelta(hours=12)


def check_justification(principal: Principal, model: str, break_glass: str | None) -> str | None:
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


def override_freeze(
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


def overridden_windows(req: TransitionRequest, now: dt.datetime) -> frozenset[str]:
    if req.break_glass_at is None or now - req.break_glass_at > BREAK_GLASS_VALIDITY:
        return frozenset()
    return frozenset(req.break_glass_windows or ())


def record_break_glass(
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
