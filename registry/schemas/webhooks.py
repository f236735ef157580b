"""Webhooks on the wire: subscriptions, their deliveries and every attempt."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.schemas.common import PageArgs, ShownOnce, UTCTime

STATES = ["pending", "delivered", "failed"]


class WebhookIn(ma.Schema):
    url = fields.String(required=True, metadata={"description": "http(s) URL to POST to."})
    events = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Event names, families such as `transition_request.*`, or `*`."},
    )
    model_filter = fields.String(
        load_default="*", metadata={"description": "Glob of model names (default: all)."}
    )
    description = fields.String(allow_none=True)
    active = fields.Boolean(load_default=True)
    databricks_signature = fields.Boolean(
        load_default=False,
        metadata={"description": "Also send X-Databricks-Signature (hex HMAC of the body)."},
    )


class WebhookPatch(ma.Schema):
    url = fields.String()
    events = fields.List(fields.String())
    model_filter = fields.String()
    description = fields.String(allow_none=True)
    active = fields.Boolean(metadata={"description": "true re-enables a disabled webhook."})
    databricks_signature = fields.Boolean()


class WebhookOut(ShownOnce):
    SHOWN_ONCE = ("secret",)
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    model_filter = fields.String()
    description = fields.String(allow_none=True)
    active = fields.Boolean()
    databricks_signature = fields.Boolean()
    disabled_reason = fields.String(
        allow_none=True, metadata={"description": "Why delivery stopped, when it did."}
    )
    secret = fields.String(
        metadata={"description": "whsec_…: in the creation and rotation answers only."}
    )
    previous_secret_expires_at = UTCTime(
        allow_none=True, metadata={"description": "Until then the previous secret signs too."}
    )
    created_at = UTCTime()
    created_by = fields.String()
    updated_at = UTCTime()


class WebhookList(ma.Schema):
    webhooks = fields.List(fields.Nested(WebhookOut), required=True)


class RotateIn(ma.Schema):
    overlap_seconds = fields.Integer(
        load_default=86400,
        validate=validate.Range(min=0, max=30 * 86400),
        metadata={"description": "How long the previous secret keeps signing (default a day)."},
    )


class AttemptOut(ma.Schema):
    at = UTCTime()
    status_code = fields.Integer(allow_none=True)
    latency_ms = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    response_snippet = fields.String(allow_none=True)


class DeliveryOut(ma.Schema):
    id = fields.Integer()
    webhook_id = fields.Integer()
    message_id = fields.String(metadata={"description": "The webhook-id header."})
    event = fields.String()
    event_seq = fields.Integer(allow_none=True, metadata={"description": "Audit seq."})
    model = fields.String(allow_none=True)
    state = fields.String(metadata={"enum": STATES})
    created_at = UTCTime()
    next_attempt_at = UTCTime(allow_none=True)
    delivered_at = UTCTime(allow_none=True)
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    body = fields.String(metadata={"description": "The exact bytes sent, as text."})
    attempts = fields.List(
        fields.Nested(AttemptOut),
        attribute="attempt_log",
        metadata={"description": "Every attempt, oldest first."},
    )


class DeliveryListArgs(PageArgs):
    state = fields.String(validate=validate.OneOf(STATES))


class DeliveryPage(ma.Schema):
    deliveries = fields.List(fields.Nested(DeliveryOut), required=True)
    next_page_token = fields.String(allow_none=True)


class Queued(ma.Schema):
    delivery_id = fields.Integer()
