"""/api/v1/webhooks: subscriptions, test pings, and the delivery log (admins only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response
from flask.views import MethodView

from registry.api.http import Blueprint, answer, empty, page_tokens, single
from registry.delivery import outbox
from registry.domain import webhooks
from registry.domain.permissions import Action
from registry.extensions import db
from registry.schemas.webhooks import (
    DeliveryListArgs,
    DeliveryPage,
    Queued,
    RotateIn,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
)
from registry.web.auth import current_principal, requires

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/webhooks",
    description="Signed HTTP callbacks on registry events (Standard Webhooks), for admins.",
)
DELIVERIES = "webhook-deliveries"


@blp.route("")
class Webhooks(MethodView):
    @requires(Action.ADMIN)
    @blp.response(200, WebhookList)
    def get(self) -> dict[str, Any]:
        """List webhook subscriptions (never their secrets)"""
        return {"webhooks": webhooks.list_webhooks(db.session, current_principal())}

    @requires(Action.ADMIN)
    @blp.arguments(WebhookIn)
    @blp.response(201, WebhookOut)
    def post(self, body: dict[str, Any]) -> Response:
        """Subscribe a URL to registry events

        The answer holds the signing `secret` (`whsec_…`); it is shown this once. Deliveries
        are signed as Standard Webhooks specifies (`webhook-id`, `webhook-timestamp`,
        `webhook-signature`).
        """
        hooks = outbox.runtime()
        info = webhooks.create_webhook(
            db.session, current_principal(), hooks.box, reach=hooks.target, **body
        )
        db.session.commit()
        return single(WebhookOut(), info, 201)


@blp.route("/<id:webhook_id>")
class Webhook(MethodView):
    @requires(Action.ADMIN)
    @blp.response(200, WebhookOut)
    def get(self, webhook_id: int) -> Response:
        """Get a webhook subscription"""
        return single(
            WebhookOut(), webhooks.get_webhook(db.session, current_principal(), webhook_id)
        )

    @requires(Action.ADMIN)
    @blp.arguments(WebhookPatch)
    @blp.response(200, WebhookOut)
    def patch(self, body: dict[str, Any], webhook_id: int) -> Response:
        """Change a subscription; `active: true` re-enables one that was disabled"""
        info = webhooks.update_webhook(
            db.session, current_principal(), webhook_id, reach=outbox.runtime().target, **body
        )
        db.session.commit()
        return single(WebhookOut(), info)

    @requires(Action.ADMIN)
    @blp.response(204)
    def delete(self, webhook_id: int) -> Response:
        """Delete a subscription and its delivery log"""
        webhooks.delete_webhook(db.session, current_principal(), webhook_id)
        db.session.commit()
        return empty()


@blp.route("/<id:webhook_id>/rotate-secret")
class RotateSecret(MethodView):
    @requires(Action.ADMIN)
    @blp.arguments(RotateIn)
    @blp.response(200, WebhookOut)
    def post(self, body: dict[str, Any], webhook_id: int) -> Response:
        """Replace the signing secret

        The new secret is in the answer, shown this once. For `overlap_seconds` (default a
        day) deliveries carry two signatures, by the new and the previous secret, so
        receivers can switch without missing one.
        """
        info = webhooks.rotate_secret(
            db.session,
            current_principal(),
            outbox.runtime().box,
            webhook_id,
            overlap=dt.timedelta(seconds=body["overlap_seconds"]),
        )
        db.session.commit()
        return single(WebhookOut(), info)


@blp.route("/<id:webhook_id>/test")
class Test(MethodView):
    @requires(Action.ADMIN)
    @blp.response(202, Queued)
    def post(self, webhook_id: int) -> Response:
        """Send a `webhook.test` event to this subscriber (active or not)"""
        delivery_id = webhooks.send_test(db.session, current_principal(), webhook_id)
        db.session.commit()
        return answer({"delivery_id": delivery_id}, 202)


@blp.route("/<id:webhook_id>/deliveries")
class Deliveries(MethodView):
    @requires(Action.ADMIN)
    @blp.arguments(DeliveryListArgs, location="query")
    @blp.response(200, DeliveryPage)
    def get(self, args: dict[str, Any], webhook_id: int) -> dict[str, Any]:
        """A subscription's deliveries, newest first, each with every attempt"""
        filters = {"webhook_id": webhook_id, "state": args.get("state")}
        tokens = page_tokens()
        page = webhooks.list_deliveries(
            db.session,
            current_principal(),
            webhook_id,
            state=args.get("state"),
            max_results=args.get("max_results"),
            after=tokens.decode(DELIVERIES, args.get("page_token"), filters),
        )
        return {
            "deliveries": page.items,
            "next_page_token": tokens.encode(DELIVERIES, page.next_cursor, filters),
        }


@blp.route("/<id:webhook_id>/deliveries/<id:delivery_id>/redeliver")
class Redeliver(MethodView):
    @requires(Action.ADMIN)
    @blp.response(202, Queued)
    def post(self, webhook_id: int, delivery_id: int) -> Response:
        """Send a delivery again: the same body and `webhook-id`, whatever became of it"""
        webhooks.redeliver(db.session, current_principal(), webhook_id, delivery_id)
        db.session.commit()
        return answer({"delivery_id": delivery_id}, 202)
