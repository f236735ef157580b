"""Webhook subscriptions: create, read, change, delete, rotate the signing secret.

Secrets are shown once, when made or rotated, and kept sealed (:mod:`registry.domain.sealing`);
a rotated secret keeps signing beside the new one for an overlap, so receivers can switch
without missing a delivery. Only admins manage subscriptions; every change is audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import globs, permissions, validation
from registry.domain.destinations import Reach
from registry.domain.errors import InvalidArgument, NotFound
from registry.domain.events import EventType, record
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.sealing import SecretBox
from registry.domain.webhooks.routing import check_events
from registry.domain.webhooks.signing import new_secret
from registry.orm import Webhook
from registry.orm.base import utcnow

MAX_URL = 2048
STRICT = Reach()  # the default rules: no loopback, no private networks, https only


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
        events=check_events(events),
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


def find_webhook(session: Session, webhook_id: int, lock: bool = False) -> Webhook:
    webhook_id = validation.row_id(webhook_id, f"Webhook {webhook_id} not found.")
    row = session.get(Webhook, webhook_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"Webhook {webhook_id} not found.")
    return row


def get_webhook(session: Session, principal: Principal, webhook_id: int) -> WebhookInfo:
    permissions.require(principal, Action.ADMIN)
    return _info(find_webhook(session, webhook_id))


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
    row = find_webhook(session, webhook_id, lock=True)
    before = _audit_data(row)
    if url is not UNSET:
        row.url = _check_url(url, reach)
    elif active is True and not row.active:
        _check_url(row.url, reach)
    if events is not UNSET:
        row.events = check_events(events)
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
    row = find_webhook(session, webhook_id, lock=True)
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
    row = find_webhook(session, webhook_id, lock=True)
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
