"""Delivering: claim a due delivery, record what the attempt gave, schedule the retries.

A worker *claims* a delivery with a short lease (:func:`claim`), sends it outside any
transaction with the headers of :func:`headers_for`, and records the outcome
(:func:`record_result`): delivered, retried later (network errors, 5xx, 408, 429, honouring
``Retry-After``, on a schedule of about a day), or failed (other 4xx, or the schedule ran
out). A subscription whose deliveries keep failing is disabled, and the ledger says so. The
periodic sweep picks up what is due and no sender holds (:func:`due`).

Per-subscription ordering is not enforced: each delivery is independent, so a slow or
failing receiver never holds back the others; receivers order by ``data.seq`` (the audit
sequence number) when order matters.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain.events import EventType, record
from registry.domain.principal import system
from registry.domain.sealing import SecretBox
from registry.domain.webhooks.signing import databricks_signature, sign
from registry.domain.webhooks.subscriptions import signing_secrets
from registry.orm import DeliveryAttempt, Webhook, WebhookDelivery
from registry.orm.base import utcnow

SNIPPET = 2048  # bytes of a receiver's answer kept with the attempt
LEASE = dt.timedelta(seconds=90)
FAILED_STREAK_TO_DISABLE = 10
DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)  # ~24 h in all
MAX_RETRY_AFTER = 3600.0


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
