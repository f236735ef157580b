"""Webhooks: subscriptions, the transactional outbox, and the rules of delivery.

The outbox: when a transaction commits, the ledger appends its events and calls
:func:`write_outbox`, which adds one delivery row per matching subscription *in the same
transaction*. A change and its deliveries therefore commit together or not at all; whoever
sends them afterwards (a Celery task, the embedded thread, the periodic sweep) works from
these rows, so a crash or a broker outage between the commit and the send loses nothing.

Delivery follows the Standard Webhooks convention: the body is fixed when the row is
written, ``webhook-id`` is the row's message id (stable across retries, the receiver's
idempotency key), ``webhook-signature`` is ``v1,`` + base64 HMAC-SHA256 over
``{id}.{timestamp}.{body}`` keyed by the subscription's secret (two signatures during a
rotation). A worker *claims* a delivery with a short lease, sends it outside any transaction,
and records the outcome: delivered, retried later (network errors, 5xx, 408, 429, honouring
``Retry-After``, on a schedule of about a day), or failed (other 4xx, or the schedule ran
out). A subscription whose deliveries keep failing is disabled, and the ledger says so.

Per-subscription ordering is not enforced: each delivery is independent, so a slow or
failing receiver never holds back the others; receivers order by ``data.seq`` (the audit
sequence number) when order matters.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.orm import Session

from registry.domain import globs, permissions, validation
from registry.domain.destinations import Reach
from registry.domain.errors import InvalidArgument, NotFound
from registry.domain.events import EventType, record
from registry.domain.pagination import Page, check_max_results, paginate
from registry.domain.permissions import Action
from registry.domain.principal import Principal, system
from registry.orm import DeliveryAttempt, Webhook, WebhookDelivery
from registry.orm.base import utcnow

NEW_DELIVERIES = "modelgate.new_deliveries"  # session.info key read after commit
TEST_EVENT = EventType.WEBHOOK_TEST.value
# Event families kept in the ledger only: identity and webhook configuration are for
# auditors, not for subscribers; so are refused accesses (access.denied), which carry client
# addresses and credential fingerprints and come in floods. Governance refusals
# (transition.refused) are delivered: a tech lead's channel wants to hear that someone tried
# to push a model to Production and was turned away.
AUDIT_ONLY = ("token.", "role_binding.", "webhook.", "policy.", "key.", "access.")
# Events delivered only to subscriptions that name them (or their family), never to "*":
# receivers of model changes should not start getting the ledger's hourly checkpoints.
NAMED_ONLY = frozenset({EventType.AUDIT_CHECKPOINT.value})
MAX_URL = 2048
SNIPPET = 2048
LEASE = dt.timedelta(seconds=90)
FAILED_STREAK_TO_DISABLE = 10
DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)  # ~24 h in all
MAX_RETRY_AFTER = 3600.0
STRICT = Reach()  # the default rules: no loopback, no private networks, https only


def deliverable(event: str) -> bool:
    return event == TEST_EVENT or not event.startswith(AUDIT_ONLY)


# --------------------------------------------------------------------------- secrets


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes, the Standard Webhooks form."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _key_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


class SecretBox:
    """Encrypts subscription secrets at rest; they must be read back to sign, so they are
    encrypted (Fernet: AES-128-CBC with HMAC) rather than hashed.

    Given several keys (during a rotation), the first seals and every one opens;
    :meth:`reseal` moves a sealed value onto the first key."""

    def __init__(self, key: str | Sequence[str]) -> None:
        keys = [key] if isinstance(key, str) else list(key)
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @staticmethod
    def derive(material: str) -> str:
        """A Fernet key derived from another secret (the service's SECRET_KEY)."""
        digest = hashlib.sha256(b"modelgate.webhook-secrets:" + material.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode()

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise RuntimeError(
                "A webhook secret cannot be decrypted: MODELGATE_WEBHOOK_ENCRYPTION_KEY (or "
                "the MODELGATE_SECRET_KEY it derives from) changed since it was stored; give "
                "the old key in MODELGATE_PREVIOUS_SECRET_KEYS (or after the new one in "
                "MODELGATE_WEBHOOK_ENCRYPTION_KEY) and run `modelgate keys reseal`."
            ) from None

    def reseal(self, sealed: str) -> str:
        """``sealed`` sealed again with the first key (whichever key sealed it)."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            self.open(sealed)  # raises, saying which keys to give
            raise


def sign(secrets_in_use: Sequence[str], message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated."""
    content = f"{message_id}.{timestamp}.{body}".encode()
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key_bytes(s), content, hashlib.sha256).digest()).decode()
        for s in secrets_in_use
    )


def databricks_signature(secret: str, body: str) -> str:
    """``X-Databricks-Signature``: lowercase hex HMAC-SHA256 of the body, keyed by the
    secret's text, for receivers built for Databricks registry webhooks."""
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- subscriptions


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    id: int
    url: str
    events: list[str]
    model_filter: str
    description: str | None
    active: bool
    databricks_signature: bool
    disabled_reason: str | None
    previous_secret_expires_at: dt.datetime | None
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    secret: str | None = None  # only when it was just created or rotated


def _info(row: Webhook, secret: str | None = None) -> WebhookInfo:
    return WebhookInfo(
        row.id,
        row.url,
        list(row.events),
        row.model_filter,
        row.description,
        row.active,
        row.databricks_signature,
        row.disabled_reason,
        row.previous_expires_at,
        row.created_at,
        row.created_by,
        row.updated_at,
        secret,
    )


def _check_url(url: object, reach: Reach) -> str:
    text = validation.optional_text(url, "url", MAX_URL)
    try:
        parts = urlsplit(text or "")
        host, _ = parts.hostname, parts.port  # the sender reads both
    except ValueError:  # an unbalanced "[" in the host, a port out of range
        raise InvalidArgument("url must be an http(s) URL with a host.", field="url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidArgument("url must be an http(s) URL with a host.", field="url")
    if parts.username or parts.password:
        raise InvalidArgument("url must not carry credentials.", field="url")
    refused = reach.refuses_url(text)  # type: ignore[arg-type]
    if refused is not None:
        raise InvalidArgument(f"url refused: {refused}.", field="url")
    return text  # type: ignore[return-value]


def _check_events(events: object) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidArgument(
            "events must be a non-empty list of event names, '*' for all.", field="events"
        )
    known = {e.value for e in EventType if deliverable(e.value)} | {TEST_EVENT}
    families = {name.split(".", 1)[0] + ".*" for name in known}
    wrong = [e for e in events if e != "*" and e not in known and e not in families]
    if wrong:
        raise InvalidArgument(
            f"Unknown or undeliverable event(s): {', '.join(sorted(wrong))}. Use event names "
            "such as model_version.stage_changed, a family such as transition_request.*, "
            "or '*'.",
            field="events",
        )
    return sorted(set(events))


def _subscribed(row: Webhook, event: str, model: str | None) -> bool:
    if not row.active:
        return False
    family = event.split(".", 1)[0] + ".*"
    wanted = (event, family) if event in NAMED_ONLY else ("*", event, family)
    if not any(e in wanted for e in row.events):
        return False
    return model is None or globs.matches(row.model_filter, model)


def create_webhook(
    session: Session,
    principal: Principal,
    box: SecretBox,
    *,
    url: str,
    events: list[str],
    model_filter: str = "*",
    description: str | None = None,
    active: bool = True,
    databricks_signature: bool = False,
    reach: Reach = STRICT,
) -> WebhookInfo:
    """Subscribe ``url`` to ``events``; the answer holds the secret, shown this once.

    ``reach`` is where this installation delivers: a URL it would refuse to deliver to (an
    address written into it, plain http) is refused now (InvalidArgument) rather than at
    every delivery."""
    permissions.require(principal, Action.ADMIN)
    now = utcnow()
    secret = new_secret()
    row = Webhook(
        url=_check_url(url, reach),
        events=_check_events(events),
        model_filter=globs.validate(model_filter, "model_filter"),
        description=validation.description(description),
        active=bool(active),
        databricks_signature=bool(databricks_signature),
        secret=box.seal(secret),
        failure_streak=0,
        created_at=now,
        created_by=principal.id,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    record(session, EventType.WEBHOOK_CREATED, principal, data=_audit_data(row))
    return _info(row, secret)


def _audit_data(row: Webhook) -> dict[str, Any]:
    return {
        "webhook_id": row.id,
        "url": row.url,
        "events": list(row.events),
        "model_filter": row.model_filter,
        "active": row.active,
    }


def _webhook(session: Session, webhook_id: int, lock: bool = False) -> Webhook:
    webhook_id = validation.row_id(webhook_id, f"Webhook {webhook_id} not found.")
    row = session.get(Webhook, webhook_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"Webhook {webhook_id} not found.")
    return row


def get_webhook(session: Session, principal: Principal, webhook_id: int) -> WebhookInfo:
    permissions.require(principal, Action.ADMIN)
    return _info(_webhook(session, webhook_id))


def list_webhooks(session: Session, principal: Principal) -> list[WebhookInfo]:
    permissions.require(principal, Action.ADMIN)
    return [_info(r) for r in session.execute(sa.select(Webhook).order_by(Webhook.id)).scalars()]


UNSET: Any = object()


def update_webhook(
    session: Session,
    principal: Principal,
    webhook_id: int,
    *,
    url: str = UNSET,
    events: list[str] = UNSET,
    model_filter: str = UNSET,
    description: str | None = UNSET,
    active: bool = UNSET,
    databricks_signature: bool = UNSET,
    reach: Reach = STRICT,
) -> WebhookInfo:
    """Change a subscription. Re-activating one clears its failure streak; its URL is
    checked again then, as rules may have tightened since it was made."""
    permissions.require(principal, Action.ADMIN)
    row = _webhook(session, webhook_id, lock=True)
    before = _audit_data(row)
    if url is not UNSET:
        row.url = _check_url(url, reach)
    elif active is True and not row.active:
        _check_url(row.url, reach)
    if events is not UNSET:
        row.events = _check_events(events)
    if model_filter is not UNSET:
        row.model_filter = globs.validate(model_filter, "model_filter")
    if description is not UNSET:
        row.description = validation.description(description)
    if databricks_signature is not UNSET:
        row.databricks_signature = bool(databricks_signature)
    if active is not UNSET:
        if active and not row.active:
            row.failure_streak, row.disabled_reason = 0, None
        row.active = bool(active)
    row.updated_at = utcnow()
    session.flush()
    record(
        session,
        EventType.WEBHOOK_UPDATED,
        principal,
        data={"webhook_id": row.id, "before": before, "after": _audit_data(row)},
    )
    return _info(row)


def delete_webhook(session: Session, principal: Principal, webhook_id: int) -> None:
    permissions.require(principal, Action.ADMIN)
    row = _webhook(session, webhook_id, lock=True)
    data = _audit_data(row)
    session.delete(row)
    session.flush()
    record(session, EventType.WEBHOOK_DELETED, principal, data=data)


def rotate_secret(
    session: Session,
    principal: Principal,
    box: SecretBox,
    webhook_id: int,
    overlap: dt.timedelta = dt.timedelta(hours=24),
) -> WebhookInfo:
    """A new secret, shown this once; the old one keeps signing for ``overlap`` too, so
    receivers can switch without missing a delivery."""
    permissions.require(principal, Action.ADMIN)
    if not dt.timedelta(0) <= overlap <= dt.timedelta(days=30):
        raise InvalidArgument("overlap must be between 0 and 30 days.", field="overlap_seconds")
    row = _webhook(session, webhook_id, lock=True)
    secret = new_secret()
    now = utcnow()
    row.previous_secret = row.secret if overlap else None
    row.previous_expires_at = now + overlap if overlap else None
    row.secret = box.seal(secret)
    row.updated_at = now
    session.flush()
    record(
        session,
        EventType.WEBHOOK_SECRET_ROTATED,
        principal,
        data={"webhook_id": row.id, "overlap_seconds": int(overlap.total_seconds())},
    )
    return _info(row, secret)


def signing_secrets(row: Webhook, box: SecretBox, now: dt.datetime) -> list[str]:
    keys = [box.open(row.secret)]
    if row.previous_secret and row.previous_expires_at and row.previous_expires_at > now:
        keys.append(box.open(row.previous_secret))
    return keys


# --------------------------------------------------------------------------- the outbox


def _body(event: str, at: dt.datetime, data: dict[str, Any]) -> str:
    payload = {
        "type": event,
        "timestamp": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": data,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _add_delivery(
    session: Session,
    row: Webhook,
    event: str,
    seq: int | None,
    model: str | None,
    body: str,
    now: dt.datetime,
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        webhook_id=row.id,
        message_id=f"msg_{uuid.uuid4().hex}",
        event=event,
        event_seq=seq,
        model=model,
        body=body,
        state="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        enqueued_at=now,
    )
    session.add(delivery)
    return delivery


def write_outbox(session: Session, appended: Iterable[Any]) -> None:
    """One delivery per (event, matching subscription), in the caller's transaction.

    Called by the ledger at commit, with the audit rows it just appended. The new delivery
    ids are left on the session for the after-commit hook to send.
    """
    appended = [e for e in appended if deliverable(e.event)]
    if not appended:
        return
    subscribers = list(
        session.execute(sa.select(Webhook).where(Webhook.active.is_(True))).scalars()
    )
    if not subscribers:
        return
    now = utcnow()
    created = []
    for event in appended:
        data = {
            "seq": event.seq,
            "model": event.model,
            "version": event.version,
            "actor": event.actor,
            **event.data,
        }
        body = _body(event.event, event.at, data)
        for row in subscribers:
            if _subscribed(row, event.event, event.model):
                created.append(
                    _add_delivery(session, row, event.event, event.seq, event.model, body, now)
                )
    if created:
        session.flush()
        session.info.setdefault(NEW_DELIVERIES, []).extend(d.id for d in created)


def send_test(session: Session, principal: Principal, webhook_id: int) -> int:
    """Queue a ``webhook.test`` delivery to this subscriber (active or not); its id."""
    permissions.require(principal, Action.ADMIN)
    row = _webhook(session, webhook_id)
    now = utcnow()
    body = _body(
        TEST_EVENT,
        now,
        {"webhook_id": row.id, "actor": principal.id, "message": "A test delivery from Modelgate."},
    )
    delivery = _add_delivery(session, row, TEST_EVENT, None, None, body, now)
    session.flush()
    session.info.setdefault(NEW_DELIVERIES, []).append(delivery.id)
    record(
        session,
        EventType.WEBHOOK_TESTED,
        principal,
        data={"webhook_id": row.id, "delivery_id": delivery.id},
    )
    return delivery.id


def take_new_deliveries(session: Session) -> list[int]:
    return session.info.pop(NEW_DELIVERIES, [])


# --------------------------------------------------------------------------- delivering


@dataclass(frozen=True, slots=True)
class Claim:
    """Everything a sender needs, read while the lease was taken."""

    delivery_id: int
    webhook_id: int
    message_id: str
    url: str
    body: str
    signing_secrets: list[str]
    databricks_secret: str | None


@dataclass(frozen=True, slots=True)
class Result:
    """What one HTTP attempt gave."""

    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    snippet: str | None = None
    retry_after: float | None = None
    retryable: bool = True  # False for refusals that no retry can fix (SSRF, bad URL)


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str  # delivered | pending | failed
    retry_in: float | None = None
    disabled: bool = False


def claim(
    session: Session,
    delivery_id: int,
    box: SecretBox,
    now: dt.datetime | None = None,
    lease: dt.timedelta = LEASE,
) -> Claim | None:
    """Take a due delivery for sending; None when it is not due, done, or claimed already.

    One UPDATE ... RETURNING does it, so two workers racing for the same delivery cannot
    both win. The caller commits before sending. The lease must outlast the HTTP attempt:
    a sender that dies holding it delays the delivery by at most the lease.
    """
    now = now or utcnow()
    table = WebhookDelivery.__table__
    taken = session.execute(
        table.update()
        .where(
            table.c.id == delivery_id,
            table.c.state == "pending",
            table.c.next_attempt_at <= now,
            sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now),
        )
        .values(lease_until=now + lease)
        .returning(table.c.webhook_id, table.c.message_id, table.c.body)
    ).one_or_none()
    if taken is None:
        return None
    row = session.get(Webhook, taken.webhook_id)
    if row is None:
        return None
    return Claim(
        delivery_id,
        row.id,
        taken.message_id,
        row.url,
        taken.body,
        signing_secrets(row, box, now),
        box.open(row.secret) if row.databricks_signature else None,
    )


def headers_for(claim_: Claim, timestamp: int) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "user-agent": "Modelgate-Webhooks/1",
        "webhook-id": claim_.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            claim_.signing_secrets, claim_.message_id, timestamp, claim_.body
        ),
    }
    if claim_.databricks_secret is not None:
        headers["x-databricks-signature"] = databricks_signature(
            claim_.databricks_secret, claim_.body
        )
    return headers


def record_result(
    session: Session,
    delivery_id: int,
    result: Result,
    schedule: Sequence[float] = DEFAULT_SCHEDULE,
    now: dt.datetime | None = None,
) -> Outcome:
    """Log the attempt and decide what comes next; disable a subscription that keeps
    failing (recording webhook.disabled)."""
    now = now or utcnow()
    attempt = DeliveryAttempt(
        delivery_id=delivery_id,
        at=now,
        status_code=result.status,
        latency_ms=result.latency_ms,
        error=result.error,
        response_snippet=result.snippet,
    )
    if result.status is not None and 200 <= result.status < 300:
        # The common case, in three statements and no row read first.
        table = WebhookDelivery.__table__
        done = session.execute(
            table.update()
            .where(table.c.id == delivery_id, table.c.state == "pending")
            .values(
                state="delivered",
                delivered_at=now,
                attempts=table.c.attempts + 1,
                last_status=result.status,
                last_error=result.error,
                lease_until=None,
            )
            .returning(table.c.webhook_id)
        ).one_or_none()
        if done is not None:
            session.add(attempt)
            # No lock on the subscription unless its streak must end: successes to one
            # subscriber, recorded by many workers at once, must not queue on its row.
            session.execute(
                sa.update(Webhook)
                .where(Webhook.id == done.webhook_id, Webhook.failure_streak != 0)
                .values(failure_streak=0)
            )
            session.flush()
            return Outcome("delivered")
    delivery = session.get(
        WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True
    )
    if delivery is None:
        return Outcome("failed")
    session.add(attempt)
    delivery.attempts += 1
    delivery.last_status, delivery.last_error = result.status, result.error
    delivery.lease_until = None
    if delivery.state != "pending":  # someone else finished it while our lease had lapsed
        return Outcome(delivery.state)
    retryable = result.retryable and (
        result.status is None or result.status >= 500 or result.status in (408, 429)
    )
    if retryable and delivery.attempts <= len(schedule):
        delay = schedule[delivery.attempts - 1] * random.uniform(0.8, 1.2)  # noqa: S311
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, MAX_RETRY_AFTER))
        delivery.next_attempt_at = now + dt.timedelta(seconds=delay)
        delivery.enqueued_at = None  # the sender schedules it again, or the sweep will
        return Outcome("pending", retry_in=delay)
    delivery.state = "failed"
    disabled = False
    webhook = session.get(Webhook, delivery.webhook_id, with_for_update=True)
    if webhook is not None:
        webhook.failure_streak += 1
        exhausted = retryable  # every retry of the schedule failed
        if webhook.active and (exhausted or webhook.failure_streak >= FAILED_STREAK_TO_DISABLE):
            webhook.active = False
            webhook.disabled_reason = (
                f"Disabled at {now.isoformat()}: delivery {delivery.id} failed after "
                f"{delivery.attempts} attempt(s) (last: {result.status or result.error})."
            )
            disabled = True
            record(
                session,
                EventType.WEBHOOK_DISABLED,
                system(),
                data={"webhook_id": webhook.id, "reason": webhook.disabled_reason},
            )
    return Outcome("failed", disabled=disabled)


def due(
    session: Session,
    now: dt.datetime | None = None,
    *,
    redispatch_after: float = 60.0,
    limit: int = 500,
) -> list[int]:
    """Deliveries that are due and that no sender holds or was recently given: for the
    sweep to send (again). Marks them as given to a sender now."""
    now = now or utcnow()
    stale = now - dt.timedelta(seconds=redispatch_after)
    table = WebhookDelivery.__table__
    ids = list(
        session.execute(
            sa.select(table.c.id)
            .where(
                table.c.state == "pending",
                table.c.next_attempt_at <= now,
                sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now),
                sa.or_(table.c.enqueued_at.is_(None), table.c.enqueued_at < stale),
            )
            .order_by(table.c.next_attempt_at)
            .limit(limit)
        ).scalars()
    )
    if ids:
        session.execute(table.update().where(table.c.id.in_(ids)).values(enqueued_at=now))
    return ids


def mark_enqueued(session: Session, delivery_id: int, at: dt.datetime) -> None:
    table = WebhookDelivery.__table__
    session.execute(table.update().where(table.c.id == delivery_id).values(enqueued_at=at))


def redeliver(session: Session, principal: Principal, webhook_id: int, delivery_id: int) -> int:
    """Send a delivery again (same body, same webhook-id), whatever became of it."""
    permissions.require(principal, Action.ADMIN)
    delivery_id = validation.row_id(delivery_id, f"Delivery {delivery_id} not found.")
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.webhook_id != webhook_id:
        raise NotFound(f"Delivery {delivery_id} of webhook {webhook_id} not found.")
    now = utcnow()
    delivery.state, delivery.next_attempt_at, delivery.lease_until = "pending", now, None
    delivery.enqueued_at, delivery.delivered_at = now, None
    session.flush()
    session.info.setdefault(NEW_DELIVERIES, []).append(delivery.id)
    record(
        session,
        EventType.WEBHOOK_REDELIVERED,
        principal,
        data={
            "webhook_id": webhook_id,
            "delivery_id": delivery.id,
            "message_id": delivery.message_id,
        },
    )
    return delivery.id


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    at: dt.datetime
    status_code: int | None
    latency_ms: float | None
    error: str | None
    response_snippet: str | None


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    id: int
    webhook_id: int
    message_id: str
    event: str
    event_seq: int | None
    model: str | None
    state: str
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    last_status: int | None
    last_error: str | None
    body: str
    attempt_log: list[AttemptInfo] = field(default_factory=list)


def list_deliveries(
    session: Session,
    principal: Principal,
    webhook_id: int,
    *,
    state: str | None = None,
    max_results: int | None = None,
    after: dict[str, Any] | None = None,
) -> Page[DeliveryInfo]:
    """A subscription's deliveries, newest first, each with every attempt."""
    permissions.require(principal, Action.ADMIN)
    _webhook(session, webhook_id)
    limit = check_max_results(max_results, default=50, maximum=500)
    stmt = (
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit + 1)
    )
    if state is not None:
        if state not in ("pending", "delivered", "failed"):
            raise InvalidArgument("state must be pending, delivered or failed.", field="state")
        stmt = stmt.where(WebhookDelivery.state == state)
    if after is not None:
        if not isinstance(after.get("id"), int):
            raise InvalidArgument("page_token is malformed.", field="page_token")
        stmt = stmt.where(WebhookDelivery.id < after["id"])
    rows = list(session.execute(stmt).scalars())
    ids = [r.id for r in rows]
    attempts: dict[int, list[AttemptInfo]] = {}
    if ids:
        for a in session.execute(
            sa.select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(ids))
            .order_by(DeliveryAttempt.id)
        ).scalars():
            attempts.setdefault(a.delivery_id, []).append(
                AttemptInfo(a.at, a.status_code, a.latency_ms, a.error, a.response_snippet)
            )
    items = [
        DeliveryInfo(
            r.id,
            r.webhook_id,
            r.message_id,
            r.event,
            r.event_seq,
            r.model,
            r.state,
            r.attempts,
            r.created_at,
            r.next_attempt_at if r.state == "pending" else None,
            r.delivered_at,
            r.last_status,
            r.last_error,
            r.body,
            attempts.get(r.id, []),
        )
        for r in rows
    ]
    return paginate(items, limit, lambda d: {"id": d.id})
