"""One refused attempt on the record: whether it is one (:func:`classify`), what it was about
(:class:`Target`, :class:`Credential`), and its ledger event (:func:`write`).

What is recorded, and the line between ``access.denied`` and ``transition.refused``, is
told in :mod:`registry.domain.refusals`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import events, validation
from registry.domain.errors import (
    DomainError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PolicyViolation,
    Unauthenticated,
)
from registry.domain.events import EventType
from registry.domain.principal import Principal
from registry.domain.stages import Stage
from registry.orm import ModelVersion, RegisteredModel, TransitionRequest

ACCESS_DENIED = EventType.ACCESS_DENIED
TRANSITION_REFUSED = EventType.TRANSITION_REFUSED

# Finer codes (DomainError.reason) that make a refusal governance's rather than access's.
GOVERNANCE_REASONS = frozenset(
    {
        "policy_checks",
        "needs_approval",
        "not_eligible_approver",
        "self_approval",
        "own_request",
        "protected_alias",
        "invalid_move",
        "already_pending",
        "not_pending",
        "already_approved",
        "stage_moved",
        "serving",  # deleting or renaming what serves: only a governed archive takes it away
    }
)

FINGERPRINT_HEX = 16


def classify(error: DomainError) -> EventType | None:
    """The event a refused write leaves, or None when the error is no refusal (bad input,
    a missing resource, a race to retry)."""
    if error.reason in GOVERNANCE_REASONS or isinstance(error, PolicyViolation):
        return TRANSITION_REFUSED
    if isinstance(error, Unauthenticated | PermissionDenied):
        return ACCESS_DENIED
    if isinstance(error, NotFound) and error.reason == "outside_grants":
        return ACCESS_DENIED
    return None


def fingerprint(secret: str) -> str:
    """A name for a credential that is not the credential: the start of its SHA-256 (API
    tokens are stored as their full SHA-256, so an admin can match a fingerprint against
    ``api_tokens.token_hash``; nothing can be recovered from it)."""
    return (
        "sha256:" + hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()[:FINGERPRINT_HEX]
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """The actor of a refusal, who may never have authenticated (an events.Actor)."""

    id: str
    kind: str


ANONYMOUS = Caller("anonymous", "anonymous")


@dataclasses.dataclass(frozen=True, slots=True)
class Credential:
    """What an unauthenticated caller presented: how, and a fingerprint of it."""

    scheme: str  # "bearer", "basic", "none", "console", or the header's own scheme
    fingerprint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found = {"scheme": self.scheme}
        if self.fingerprint:
            found["fingerprint"] = self.fingerprint
        return found


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """What the refused request was about, as far as the caller said (checked, never
    trusted: a value that is no valid name, number or stage is left out)."""

    model: str | None = None
    version: int | None = None
    request_id: int | None = None
    to_stage: str | None = None

    @classmethod
    def parse(
        cls, model: Any = None, version: Any = None, request_id: Any = None, to_stage: Any = None
    ) -> Target:
        return cls(
            _valid(validation.model_name, model),
            _valid(validation.version_number, version),
            _valid(_row_id, request_id),
            _valid(lambda v: Stage.parse(v).value, to_stage),
        )


def _row_id(value: Any) -> int:
    number = int(value)
    if not 0 < number < 2**63:
        raise ValueError(value)
    return number


def _valid(parse: Callable[[Any], Any], value: Any) -> Any:
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        return parse(value)
    except (InvalidArgument, ValueError, TypeError):
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """One refused request, ready to be recorded or counted."""

    event: EventType
    actor: Caller
    credential_key: str  # what flood control counts by
    error_code: str
    reason: str
    model: str | None
    version: int | None
    data: dict[str, Any]
    request_id: str | None
    client: str | None
    at: dt.datetime


def refusal(
    error: DomainError,
    event: EventType,
    *,
    caller: Principal | None,
    credential: Credential | None,
    target: Target,
    operation: str | None,
    action: str | None,
    client: str | None,
    request_id: str | None,
    at: dt.datetime,
) -> Refusal:
    """Describe a refused request for the record. ``caller`` is the authenticated principal
    (None when authentication itself failed, then ``credential`` says what was presented);
    ``action`` is the one the route declares, used when the error names none."""
    context = error.context
    if caller is not None:
        actor = Caller(caller.id, caller.kind)
        key = caller.id
    elif isinstance(context.get("holder"), str):
        # A revoked or expired token, or an expired OIDC token whose signature verified:
        # refused, but whose it was is known.
        holder = context["holder"]
        actor = Caller(holder, holder.partition(":")[0])
        key = f"token:{context['token_id']}" if "token_id" in context else holder
    else:
        actor = ANONYMOUS
        key = f"address:{client or 'unknown'}"

    data: dict[str, Any] = {"error_code": error.code, "reason": error.reason or "unspecified"}
    if caller is not None:
        data["person"] = caller.person  # the human behind the token (registry.domain.principal)
    if operation:
        data["operation"] = operation
    # The domain's own word on the action first (it checked it), then the route's.
    action = context.get("action") or error.details.get("action") or action
    if action:
        data["action"] = action
    request = target.request_id or _int_or_none(context.get("request_id"))
    if request is not None:
        data["request_id"] = request
    elif _int_or_none(error.details.get("request_id")) is not None:
        data["pending_request_id"] = error.details["request_id"]  # the one already pending
    to_stage = target.to_stage or context.get("to_stage")
    if to_stage:
        data["to_stage"] = to_stage
    policy = error.details.get("policy") or context.get("policy")
    if policy:
        data["policy"] = policy
    if isinstance(error, PolicyViolation):
        data["failed_checks"] = [str(c.get("check", "?")) for c in error.failed_checks]
    if "rule" in error.details:
        data["rule"] = error.details["rule"]
    if event == ACCESS_DENIED:
        if client:
            data["client"] = client
        if caller is None:
            presented = (credential or Credential("none")).as_dict()
            if "token_id" in context:
                presented["token_id"] = context["token_id"]
            data["credential"] = presented
    return Refusal(
        event=event,
        actor=actor,
        credential_key=key,
        error_code=error.code,
        reason=data["reason"],
        model=target.model,
        version=target.version,
        data=data,
        request_id=request_id,
        client=client,
        at=at,
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def write(session: Session, refused: Refusal) -> None:
    """Stage the event for one refusal (the caller commits, in a transaction of its own:
    the refused change has been rolled back)."""
    model, version, data = refused.model, refused.version, dict(refused.data)
    if model is None and "request_id" in data:
        # Approvals name only the request: record which model and version it was about.
        found = session.execute(
            sa.select(RegisteredModel.name, ModelVersion.version, TransitionRequest.to_stage)
            .join(ModelVersion, ModelVersion.id == TransitionRequest.version_id)
            .join(RegisteredModel, RegisteredModel.id == TransitionRequest.model_id)
            .where(TransitionRequest.id == data["request_id"])
        ).one_or_none()
        if found is not None:
            model, version = found.name, found.version
            data.setdefault("to_stage", found.to_stage)
    events.record(
        session,
        refused.event,
        refused.actor,
        model=model,
        version=version,
        data=data,
        request_id=refused.request_id,
    )
