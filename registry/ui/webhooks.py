"""The console's webhook pages (admins): the subscriptions, and one's deliveries."""

from __future__ import annotations

from flask import request

from registry.api.http import page_tokens
from registry.domain import webhooks
from registry.extensions import db
from registry.ui import session
from registry.ui.blueprint import bp, query_text, render
from registry.ui.session import signed_in


@bp.get("/webhooks")
@signed_in
def webhooks_page() -> tuple[str, int]:
    subscriptions = webhooks.list_webhooks(db.session, session.current())
    return render("webhooks.html", webhooks=subscriptions)


@bp.get("/webhooks/<id:webhook_id>")
@signed_in
def webhook(webhook_id: int) -> tuple[str, int]:
    principal = session.current()
    info = webhooks.get_webhook(db.session, principal, webhook_id)
    state = query_text("state", 20)
    filters = {"webhook": webhook_id, "state": state}
    tokens = page_tokens()
    page = webhooks.list_deliveries(
        db.session,
        principal,
        webhook_id,
        state=state,
        max_results=25,
        after=tokens.decode("ui-deliveries", request.args.get("page"), filters),
    )
    return render(
        "webhook.html",
        webhook=info,
        deliveries=page.items,
        state=state or "",
        next_page=tokens.encode("ui-deliveries", page.next_cursor, filters),
    )
