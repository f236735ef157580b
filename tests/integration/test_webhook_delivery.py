"""Delivering webhooks to a real HTTP receiver: signing, retries, refusals, giving up."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import standardwebhooks

from registry import outbox
from registry.delivery import Target, deliver
from registry.domain import webhooks
from registry.extensions import db
from registry.orm import WebhookDelivery
from tests.helpers import Receiver

LOCAL = Target(allow_loopback=True, timeout=5)
NOW_AGAIN = (0.0, 0.0, 0.0)  # retry schedule: at once, so a test can drive every attempt


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def subscribe(registry, url, **body):
    body = {"url": url, "events": ["*"], **body}
    return registry.post("/api/v1/webhooks", body, expect=201).get_json()


def log(registry, webhook_id):
    return registry.get(f"/api/v1/webhooks/{webhook_id}/deliveries").get_json()["deliveries"]


def send(app, delivery_id, target=LOCAL, schedule=NOW_AGAIN):
    hooks = outbox.runtime(app)
    with app.app_context():
        return deliver(db.session, delivery_id, hooks.box, target, schedule)


def test_a_delivery_arrives_signed_as_standard_webhooks_specifies(app, registry, receiver):
    hook = subscribe(registry, receiver.url, events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])

    outcome = send(app, pending["id"])

    assert outcome.state == "delivered"
    (request,) = receiver.wait_for(1)
    payload = standardwebhooks.Webhook(hook["secret"]).verify(request["body"], request["headers"])
    assert payload["type"] == "model.created"
    assert payload["data"]["model"] == "fraud"
    assert request["headers"]["webhook-id"] == pending["message_id"]
    assert request["headers"]["content-type"] == "application/json"
    assert "x-databricks-signature" not in request["headers"]
    (done,) = log(registry, hook["id"])
    assert done["state"] == "delivered"
    assert done["delivered_at"] is not None
    (attempt,) = done["attempts"]
    assert attempt["status_code"] == 204
    assert attempt["latency_ms"] > 0
    assert attempt["error"] is None


def test_a_failing_receiver_is_retried_with_the_same_webhook_id(app, registry, receiver):
    receiver.script = [(500, {}, 0), (503, {}, 0)]
    hook = subscribe(registry, receiver.url, events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])

    outcomes = [send(app, pending["id"]).state for _ in range(3)]

    assert outcomes == ["pending", "pending", "delivered"]
    requests = receiver.wait_for(3)
    assert {r["headers"]["webhook-id"] for r in requests} == {pending["message_id"]}
    assert len({r["body"] for r in requests}) == 1
    (done,) = log(registry, hook["id"])
    assert [a["status_code"] for a in done["attempts"]] == [500, 503, 204]
    assert done["state"] == "delivered"


def test_a_client_error_fails_at_once(app, registry, receiver):
    receiver.script = [(410, {}, 0)]
    hook = subscribe(registry, receiver.url, events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])

    assert send(app, pending["id"]).state == "failed"
    assert send(app, pending["id"]) is None  # nothing left to send
    assert len(receiver.requests) == 1
    (done,) = log(registry, hook["id"])
    assert done["state"] == "failed"
    assert done["last_status"] == 410
    assert registry.get(f"/api/v1/webhooks/{hook['id']}").get_json()["active"] is True


def test_retry_after_is_honoured(app, registry, receiver):
    receiver.script = [(429, {"Retry-After": "120"}, 0)]
    hook = subscribe(registry, receiver.url, events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])

    outcome = send(app, pending["id"])

    assert outcome.state == "pending"
    assert 120 <= outcome.retry_in <= 121
    assert send(app, pending["id"]) is None  # not due yet
    (waiting,) = log(registry, hook["id"])
    next_at = dt.datetime.fromisoformat(waiting["next_attempt_at"].replace("Z", "+00:00"))
    assert next_at - dt.datetime.now(dt.UTC) > dt.timedelta(seconds=100)


def test_a_slow_receiver_times_out_and_is_retried(app, registry, receiver):
    receiver.script = [(204, {}, 3.0)]
    hook = subscribe(registry, receiver.url, events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])

    outcome = send(app, pending["id"], target=Target(allow_loopback=True, timeout=1))

    assert outcome.state == "pending"
    (waiting,) = log(registry, hook["id"])
    assert "Timeout" in waiting["attempts"][0]["error"]
    assert waiting["attempts"][0]["status_code"] is None


def test_private_and_loopback_receivers_are_refused_unless_allowed(app, registry, receiver):
    hook = subscribe(registry, receiver.url, events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])

    outcome = send(app, pending["id"], target=Target(timeout=5))  # the default rules

    assert outcome.state == "failed"  # no retry can make it allowed
    assert receiver.requests == []
    (done,) = log(registry, hook["id"])
    assert "loopback" in done["last_error"]


def test_redirects_are_not_followed(app, registry, receiver):
    receiver.script = [(302, {"Location": "http://169.254.169.254/latest/meta-data"}, 0)]
    hook = subscribe(registry, receiver.url, events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])

    assert send(app, pending["id"]).state == "failed"
    assert len(receiver.requests) == 1
    (done,) = log(registry, hook["id"])
    assert "not followed" in done["last_error"]


def test_a_subscriber_that_never_recovers_is_disabled_and_the_ledger_says_so(
    app, registry, receiver
):
    receiver.default = (500, {}, 0)
    hook = subscribe(registry, receiver.url, events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])

    outcomes = [send(app, pending["id"], schedule=(0.0,)).state for _ in range(2)]

    assert outcomes == ["pending", "failed"]
    disabled = registry.get(f"/api/v1/webhooks/{hook['id']}").get_json()
    assert disabled["active"] is False
    assert "failed after 2 attempt(s)" in disabled["disabled_reason"]
    (event,) = registry.get("/api/v1/audit?event=webhook.disabled").get_json()["events"]
    assert event["actor"] == "system:modelgate"
    assert event["data"]["webhook_id"] == hook["id"]
    registry.create_model("churn")
    assert len(log(registry, hook["id"])) == 1  # a disabled subscriber gets nothing new

    registry.patch(f"/api/v1/webhooks/{hook['id']}", {"active": True})
    registry.create_model("later")
    assert len(log(registry, hook["id"])) == 2


def test_databricks_style_signature_when_asked_for(app, registry, receiver):
    hook = subscribe(registry, receiver.url, events=["model.created"], databricks_signature=True)
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])
    send(app, pending["id"])
    (request,) = receiver.wait_for(1)
    expected = webhooks.databricks_signature(hook["secret"], request["body"])
    assert request["headers"]["x-databricks-signature"] == expected


def test_a_claim_is_exclusive_until_its_lease_lapses(app, registry):
    hook = subscribe(registry, "https://hooks.example.com/in", events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])
    box = outbox.runtime(app).box
    with app.app_context():
        first = webhooks.claim(db.session, pending["id"], box)
        db.session.commit()
        assert first is not None
        assert webhooks.claim(db.session, pending["id"], box) is None  # held
        lapsed = webhooks.utcnow() + webhooks.LEASE + dt.timedelta(seconds=1)
        again = webhooks.claim(db.session, pending["id"], box, now=lapsed)
        assert again is not None
        assert again.message_id == first.message_id
        db.session.rollback()


def test_the_sweep_finds_what_was_never_sent_and_what_is_due(app, registry):
    hook = subscribe(registry, "https://hooks.example.com/in", events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])
    with app.app_context():
        # Just written: handed to a sender at commit, so not the sweep's yet ...
        assert webhooks.due(db.session, redispatch_after=60) == []
        # ... unless no sender took it within the redispatch time (Redis was down, the
        # process died before sending).
        later = webhooks.utcnow() + dt.timedelta(seconds=61)
        assert webhooks.due(db.session, later, redispatch_after=60) == [pending["id"]]
        # Handed out again now, so a second sweep right after does not repeat it.
        assert webhooks.due(db.session, later, redispatch_after=60) == []
        count = db.session.execute(
            sa.select(sa.func.count()).where(WebhookDelivery.state == "pending")
        ).scalar()
        assert count == 1
        db.session.rollback()
