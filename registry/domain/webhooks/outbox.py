"""The transactional outbox: the delivery rows a commit writes, and sends queued by hand.

When a transaction commits, the ledger appends its events and the commit hook
(:mod:`registry.domain.on_commit`) calls :func:`write_outbox`, which adds one delivery row per
matching subscription *in the same transaction*. A change and its deliveries therefore commit
together or not at all; whoever sends them afterwards (a Celery task, the embedded thread, the
periodic sweep) works from these rows, so a crash or a broker outage between the commit and
the send loses nothing. The body is fixed when the row is written; its ``message_id`` is the
``webhook-id`` every retry carries (the receiver's idempotency key).

The ids of new deliveries are left on the session (:data:`NEW_DELIVERIES`) for the
after-commit hook to send.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import permissions, validation
from registry.domain.errors import NotFound
from registry.domain.events import EventType, record
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.webhooks.routing import TEST_EVENT, deliverable, subscribed
from registry.domain.webhooks.subscriptions import find_webhook
from registry.orm import Webhook, WebhookDelivery
from registry.orm.base import utcnow

NEW_DELIVERIES = "modelgate.new_deliveries"  # session.info key read after commit


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
            if subscribed(row, event.event, event.model):
                created.append(
                    _add_delivery(session, row, event.event, event.seq, event.model, body, now)
                )
    if created:
        session.flush()
        session.info.setdefault(NEW_DELIVERIES, []).extend(d.id for d in created)


def send_test(session: Session, principal: Principal, webhook_id: int) -> int:
    """Queue a ``webhook.test`` delivery to this subscriber (active or not); its id."""
    permissions.require(principal, Action.ADMIN)
    row = find_webhook(session, webhook_id)
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
