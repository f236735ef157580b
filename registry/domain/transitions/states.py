"""The states of a transition request, and how a request's state reads at a moment."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from registry.orm import TransitionRequest


class RequestState(StrEnum):
    """A request's state as stored and shown (a StrEnum: the values are the strings the
    database, the API and the ledger have always held)."""

    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


STATES = tuple(s.value for s in RequestState)


def state_of(req: TransitionRequest, now: dt.datetime) -> RequestState:
    """A pending request past its expiry reads as expired even before the sweep records it."""
    state = RequestState(req.state)
    if state is RequestState.PENDING and req.expires_at is not None and req.expires_at <= now:
        return RequestState.EXPIRED
    return state
