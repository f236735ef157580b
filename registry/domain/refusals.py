"""Refused attempts on the record: ``access.denied`` and ``transition.refused`` ledger events.

Which refusals are recorded (:func:`classify`), on writes only (reads are the bulk of the
traffic and change nothing):

- ``access.denied``: the caller could not be authenticated (401: no token, a malformed,
  unknown, forged, revoked or expired one), its roles do not allow the action (403), or it
  acted on a model outside its grants (answered 404, so the name does not leak, but recorded
  as the refusal it is).
- ``transition.refused``: governance said no to a stage or alias change: a policy's checks
  failed (422 POLICY_VIOLATION), the policy needs approvals the caller cannot give itself
  (the MLflow layer's direct transition-stage), the caller is not an eligible approver for
  this move, approves its own request or rejects it, the move is not in the stage table,
  or the request is already pending, no longer pending or already approved by them (409).

The line between the two: roles and authentication decide *who may act at all*
(access.denied); the policies decide *what governance allows on this move*
(transition.refused). So a viewer approving is access.denied (no approver role), an
approver approving their own request is transition.refused (the policy forbids it).

Each event names the actor (the principal when authenticated; for a dead token, whose it
was; otherwise ``anonymous`` with a SHA-256 fingerprint of what was presented, never the
secret), the operation and domain action, the target (model, version, transition request,
stage), the error code and a finer reason, the client address, and the HTTP request id in
the event's ``request_id``.

Flood control (:class:`FloodGate`): per credential and minute the first refusals are recorded
one by one; the rest are counted and written as one event with ``data.aggregated`` and
``data.count`` when the minute closes. A cap per minute across all credentials bounds the
individual events a process writes however many addresses a flood comes from, and a cap on
the credentials counted per minute bounds the summaries. Counts live in the memory of each
process: several processes each write their own summary (the counts add up), and a process
killed without a clean shutdown loses the counts of its open minute (what was recorded one
by one stays).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import events, ledger, validation
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

WINDOW_SECONDS = 60
# Distinct credentials counted per minute and process; past it, one catch-all summary.
MAX_COUNTERS = 1000
# How many distinct values a summary lists per field (operations, clients, actors, models).
MAX_LISTED = 20
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
# The actor of the catch-all summary a flood from more credentials than MAX_COUNTERS gets.
VARIOUS = Caller("various", "various")


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


# --------------------------------------------------------------------------- flood control


@dataclasses.dataclass
class Summary:
    """The refusals of one credential (and event) in one minute that were counted rather
    than recorded one by one."""

    event: EventType
    actor: Caller
    credential_key: str
    window: int  # minutes since the epoch
    recorded_individually: int
    count: int = 0
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None
    first_request_id: str | None = None
    last_request_id: str | None = None
    error_codes: Counter[str] = dataclasses.field(default_factory=Counter)
    reasons: Counter[str] = dataclasses.field(default_factory=Counter)
    operations: Counter[str] = dataclasses.field(default_factory=Counter)
    clients: Counter[str] = dataclasses.field(default_factory=Counter)
    actors: Counter[str] = dataclasses.field(default_factory=Counter)
    models: Counter[str] = dataclasses.field(default_factory=Counter)
    versions: set[int | None] = dataclasses.field(default_factory=set)
    fingerprints: set[str] = dataclasses.field(default_factory=set)

    def add(self, refused: Refusal) -> None:
        self.count += 1
        if self.first_at is None:
            self.first_at, self.first_request_id = refused.at, refused.request_id
        self.last_at, self.last_request_id = refused.at, refused.request_id
        self.error_codes[refused.error_code] += 1
        self.reasons[refused.reason] += 1
        _bump(self.operations, refused.data.get("operation"))
        _bump(self.clients, refused.client)
        _bump(self.actors, refused.actor.id)
        _bump(self.models, refused.model)
        self.versions.add(refused.version)
        presented = refused.data.get("credential", {}).get("fingerprint")
        if presented and len(self.fingerprints) < MAX_COUNTERS:
            self.fingerprints.add(presented)

    def merge(self, other: Summary) -> None:
        """Fold in a summary of the same key that could not be written (retried later)."""
        self.count += other.count
        self.recorded_individually = max(self.recorded_individually, other.recorded_individually)
        if other.first_at is not None and (self.first_at is None or other.first_at < self.first_at):
            self.first_at, self.first_request_id = other.first_at, other.first_request_id
        if other.last_at is not None and (self.last_at is None or other.last_at > self.last_at):
            self.last_at, self.last_request_id = other.last_at, other.last_request_id
        for mine, theirs in (
            (self.error_codes, other.error_codes),
            (self.reasons, other.reasons),
            (self.operations, other.operations),
            (self.clients, other.clients),
            (self.actors, other.actors),
            (self.models, other.models),
        ):
            for value, n in theirs.items():
                _bump(mine, value, n)
        self.versions |= other.versions
        self.fingerprints |= set(list(other.fingerprints)[: MAX_COUNTERS - len(self.fingerprints)])

    def data(self) -> dict[str, Any]:
        start = dt.datetime.fromtimestamp(self.window * WINDOW_SECONDS, dt.UTC)
        found: dict[str, Any] = {
            "aggregated": True,
            "count": self.count,
            "recorded_individually": self.recorded_individually,
            "window_start": ledger.format_time(start),
            "window_seconds": WINDOW_SECONDS,
            "first_at": ledger.format_time(self.first_at) if self.first_at else None,
            "last_at": ledger.format_time(self.last_at) if self.last_at else None,
            "first_request_id": self.first_request_id,
            "last_request_id": self.last_request_id,
            "error_codes": dict(self.error_codes),
            "reasons": dict(self.reasons),
            "operations": dict(self.operations),
        }
        if self.clients:
            found["clients"] = dict(self.clients)
        if self.fingerprints:
            found["distinct_credentials"] = len(self.fingerprints)
        if self.actor == VARIOUS:
            found["actors"] = dict(self.actors)
        if len(self.models) > 1:
            found["models"] = dict(self.models)
        return found

    def target(self) -> tuple[str | None, int | None]:
        if len(self.models) == 1 and "…" not in self.models:
            (model,) = self.models
            version = next(iter(self.versions)) if len(self.versions) == 1 else None
            return model, version
        return None, None


def _bump(counter: Counter[str], value: str | None, n: int = 1) -> None:
    """Count ``value``, listing at most MAX_LISTED distinct values (the rest as "…")."""
    if value is None:
        return
    if value not in counter and len(counter) >= MAX_LISTED:
        value = "…"
    counter[value] += n


class FloodGate:
    """Decides, per process, which refusals are recorded one by one and counts the rest.

    ``per_credential`` refusals of one credential (and event) per minute are recorded, and
    ``per_minute`` across all credentials; the rest are counted into a Summary per
    credential, taken by :meth:`take` once their minute has closed (or all at shutdown).
    Thread-safe; the clock is injectable so tests need not wait for a minute to pass.
    """

    def __init__(
        self,
        per_credential: int,
        per_minute: int,
        *,
        max_counters: int = MAX_COUNTERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_credential = per_credential
        self.per_minute = per_minute
        self.max_counters = max_counters
        self.clock = clock
        self._lock = threading.Lock()
        self._window: int | None = None
        self._recorded: Counter[tuple[str, str]] = Counter()
        self._recorded_total = 0
        self._counted: dict[tuple[int, str, str], Summary] = {}
        self._counters_in: Counter[int] = Counter()

    def admit(self, refused: Refusal) -> bool:
        """True: record this refusal now. False: it has been counted for a summary."""
        window = int(self.clock() // WINDOW_SECONDS)
        key = (str(refused.event), refused.credential_key)
        with self._lock:
            if window != self._window:
                self._window = window
                self._recorded.clear()
                self._recorded_total = 0
            if self._recorded[key] < self.per_credential and self._recorded_total < self.per_minute:
                self._recorded[key] += 1
                self._recorded_total += 1
                return True
            slot = (window, *key)
            summary = self._counted.get(slot)
            if summary is None:
                if self._counters_in[window] >= self.max_counters:
                    slot = (window, str(refused.event), "*")
                    summary = self._counted.get(slot)
                    actor = VARIOUS
                else:
                    actor = refused.actor
                if summary is None:
                    summary = Summary(refused.event, actor, slot[2], window, self._recorded[key])
                    self._counted[slot] = summary
                    self._counters_in[window] += 1
            summary.add(refused)
            return False

    def take(self, *, everything: bool = False) -> list[Summary]:
        """The summaries of minutes that have closed (``everything``: of the open one too,
        at shutdown), oldest first; each is handed out once."""
        window = int(self.clock() // WINDOW_SECONDS)
        with self._lock:
            slots = sorted(s for s in self._counted if everything or s[0] < window)
            taken = [self._counted.pop(s) for s in slots]
            for summary in taken:
                self._counters_in[summary.window] -= 1
                if self._counters_in[summary.window] <= 0:
                    del self._counters_in[summary.window]
            return taken

    def give_back(self, summaries: Iterable[Summary]) -> None:
        """Summaries that could not be written (the database was down): keep them for the
        next flush rather than lose their counts."""
        with self._lock:
            for summary in summaries:
                slot = (summary.window, str(summary.event), summary.credential_key)
                mine = self._counted.get(slot)
                if mine is None:
                    self._counted[slot] = summary
                    self._counters_in[summary.window] += 1
                else:
                    mine.merge(summary)

    def pending(self) -> int:
        with self._lock:
            return sum(s.count for s in self._counted.values())


def write_summaries(session: Session, summaries: Iterable[Summary]) -> int:
    """Stage one event per summary (the caller commits them together: one append to the
    ledger however many credentials a flood used). Returns the refusals they count."""
    counted = 0
    for summary in summaries:
        model, version = summary.target()
        events.record(
            session,
            summary.event,
            summary.actor,
            model=model,
            version=version,
            data=summary.data(),
            request_id=None,
        )
        counted += summary.count
    return counted
