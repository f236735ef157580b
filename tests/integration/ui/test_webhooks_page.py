"""The console's webhooks pages (admins): subscriptions, and each one's recent deliveries
with every attempt, after a real delivery to a local receiver."""

from __future__ import annotations

from registry.delivery import outbox
from registry.delivery.sender import Target, deliver
from registry.extensions import db
from tests.helpers import Receiver
from tests.integration.ui.console import Browser

LOCAL = Target(allow_loopback=True, timeout=5)


def test_admins_see_subscriptions_and_deliveries_with_their_attempts(app, registry):
    with Receiver() as receiver:
        receiver.script = [(503, {}, 0.0)]  # the first attempt fails, the second arrives
        hook = registry.post(
            "/api/v1/webhooks",
            {"url": receiver.url, "events": ["model.created"], "description": "Deploy bot"},
            expect=201,
        ).get_json()
        registry.create_model("fraud")
        (delivery,) = registry.get(f"/api/v1/webhooks/{hook['id']}/deliveries").get_json()[
            "deliveries"
        ]
        for _ in range(2):
            with app.app_context():
                deliver(db.session, delivery["id"], outbox.runtime(app).box, LOCAL, (0.0,) * 3)

    admin = Browser(app, registry.token)
    assert ">Webhooks</a>" in admin.page("/ui/inbox")
    listing = admin.page("/ui/webhooks")
    assert receiver.url in listing
    assert "Deploy bot" in listing
    assert "<code>model.created</code>" in listing
    page = admin.page(f"/ui/webhooks/{hook['id']}")
    assert "delivered" in page
    assert "2 attempt(s), last HTTP 204" in page
    assert "HTTP 503" in page
    assert "No deliveries in that state" in admin.page(f"/ui/webhooks/{hook['id']}?state=failed")


def test_only_admins_see_the_webhooks_pages(app, tokens, registry):
    hook = registry.post(
        "/api/v1/webhooks", {"url": "https://hooks.example.com/in", "events": ["*"]}, expect=201
    ).get_json()
    for role in ("approver", "auditor", "viewer"):
        browser = Browser(app, tokens(role))
        assert ">Webhooks</a>" not in browser.page("/ui/inbox")
        browser.get("/ui/webhooks", expect=403)
        browser.get(f"/ui/webhooks/{hook['id']}", expect=403)


def test_unknown_webhooks_and_bad_filters_are_clear_errors(app, registry):
    admin = Browser(app, registry.token)
    admin.get("/ui/webhooks/999999", expect=404)
    hook = registry.post(
        "/api/v1/webhooks", {"url": "https://hooks.example.com/in", "events": ["*"]}, expect=201
    ).get_json()
    response = admin.get(f"/ui/webhooks/{hook['id']}?state=lost", expect=400)
    assert "state must be" in response.get_data(as_text=True)
    admin.get(f"/ui/webhooks/{hook['id']}?page=forged", expect=400)
