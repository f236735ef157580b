"""Domain events: what changed, recorded in the same transaction as the change.

Domain functions call :func:`record`; the events wait on the session until it commits, when
the hooks of :mod:`registry.domain.on_commit` append them to the audit chain and write the
webhook outbox. A rollback discards them with the change, so the ledger never shows what did not
happen and never misses what did. Each event remembers the (nested) transaction it was
staged in, so rolling back a savepoint discards exactly the events staged inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from registry.domain.principal import Principal


class Actor(Protocol):
    """Who an event is about: a Principal, or the caller of a refused request (who may never
    have authenticated; registry.domain.refusals)."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...


_PENDING = "modelgate.pending_events"
REQUEST_ID = "modelgate.request_id"
# The X-Request-ID the caller sent, kept beside ours and never in its place: a caller could
# otherwise make its change look like part of another request in the ledger.
CLIENT_REQUEST_ID = "modelgate.client_request_id"


class EventType(StrEnum):
    MODEL_CREATED = "model.created"
    MODEL_UPDATED = "model.updated"
    MODEL_RENAMED = "model.renamed"
    MODEL_DELETED = "model.deleted"
    MODEL_TAG_SET = "model.tag_set"
    MODEL_TAG_DELETED = "model.tag_deleted"
    VERSION_CREATED = "model_version.created"
    VERSION_UPDATED = "model_version.updated"
    VERSION_DELETED = "model_version.deleted"
    VERSION_TAG_SET = "model_version.tag_set"
    VERSION_TAG_DELETED = "model_version.tag_deleted"
    ALIAS_SET = "model_version.alias_set"
    ALIAS_DELETED = "model_version.alias_deleted"
    STAGE_CHANGED = "model_version.stage_changed"
    REQUEST_CREATED = "transition_request.created"
    REQUEST_APPROVED = "transition_request.approved"
    REQUEST_REJECTED = "transition_request.rejected"
    REQUEST_CANCELLED = "transition_request.cancelled"
    REQUEST_APPLIED = "transition_request.applied"
    REQUEST_EXPIRED = "transition_request.expired"
    BREAK_GLASS = "transition_request.break_glass"
    COMMENT_CREATED = "comment.created"
    # A file entered the artifact store (data: path, size, sha256); files are never replaced.
    ARTIFACT_UPLOADED = "artifact.uploaded"
    TOKEN_CREATED = "token.created"  # noqa: S105 - an event name, not a secret
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 - an event name, not a secret
    TOKEN_APPROVED = "token.approved"  # noqa: S105 - an event name, not a secret
    BINDING_CREATED = "role_binding.created"
    BINDING_DELETED = "role_binding.deleted"
    BINDING_APPROVED = "role_binding.approved"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_UPDATED = "webhook.updated"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"  # noqa: S105 - an event name
    WEBHOOK_TESTED = "webhook.tested"
    WEBHOOK_REDELIVERED = "webhook.redelivered"
    WEBHOOK_DISABLED = "webhook.disabled"
    WEBHOOK_TEST = "webhook.test"  # the ping itself: delivered, never in the ledger
    # The secrets sealed at rest were sealed again under the current key: by the embedded
    # default replacing a public key file (key.replaced), or `modelgate keys reseal`.
    KEY_REPLACED = "key.replaced"
    KEYS_RESEALED = "key.resealed"
    # A signed checkpoint of the chain's head, published periodically (data["checkpoint"]
    # names the head before this event); delivered only to subscriptions that name it.
    AUDIT_CHECKPOINT = "audit.checkpoint"
    # A change brought over from another registry by `modelgate import`, set as the source had
    # it, without approvals; data["change"] names the ordinary event it stands for.
    IMPORTED = "import"
    # Refused attempts (registry.domain.refusals): a write refused for want of a valid token or
    # a role, and a stage or alias change refused by governance. A flood of them is counted
    # into one event per credential and minute (data["aggregated"]).
    ACCESS_DENIED = "access.denied"
    TRANSITION_REFUSED = "transition.refused"


class _FromSession:
    """The default of record()'s ``request_id``: the one the session carries."""


FROM_SESSION = _FromSession()


@dataclass(slots=True)
class PendingEvent:
    event: str
    actor: str
    actor_kind: str
    model: str | None
    version: int | None
    data: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    client_request_id: str | None = None


def record(
    session: Session,
    event: str,
    actor: Principal | Actor,
    *,
    model: str | None = None,
    version: int | None = None,
    data: dict[str, Any] | None = None,
    request_id: str | None | _FromSession = FROM_SESSION,
) -> None:
    """Stage an event; it is written when, and only if, the session commits. It carries the
    session's request id unless ``request_id`` says otherwise (an event that sums up several
    requests belongs to none of them)."""
    if isinstance(session, scoped_session):  # Flask-SQLAlchemy's db.session
        session = session()
    ours = session.info.get(REQUEST_ID)
    if request_id is FROM_SESSION:
        request_id = ours
    # The caller's X-Request-ID goes with our id of the same request, and nowhere else.
    same_request = request_id is not None and request_id == ours
    client_request_id = session.info.get(CLIENT_REQUEST_ID) if same_request else None
    staged_in = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append(
        (
            staged_in,
            PendingEvent(
                event=str(event),
                actor=actor.id,
                actor_kind=actor.kind,
                model=model,
                version=version,
                data=data or {},
                request_id=request_id,
                client_request_id=client_request_id,
            ),
        )
    )


def take_pending(session: Session) -> list[PendingEvent]:
    return [event for _, event in session.info.pop(_PENDING, [])]


def _inside(staged_in: SessionTransaction | None, ended: SessionTransaction) -> bool:
    if staged_in is None:  # staged before any statement: belongs to the outermost one
        return ended.parent is None
    node: SessionTransaction | None = staged_in
    while node is not None:
        if node is ended:
            return True
        node = node.parent
    return False


def discard_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """after_soft_rollback: forget the events staged in the transaction that just ended."""
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [
            (staged_in, event)
            for staged_in, event in pending
            if not _inside(staged_in, previous_transaction)
        ]
