"""Reading a subscription's deliveries, each with every attempt (for its admins)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import permissions
from registry.domain.errors import InvalidArgument
from registry.domain.pagination import Page, check_max_results, paginate
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.webhooks.subscriptions import find_webhook
from registry.orm import DeliveryAttempt, WebhookDelivery


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
    find_webhook(session, webhook_id)
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
