"""Delivering webhooks to a real HTTP receiver: signing, retries, refusals, giving up."""

from __future__ import annotations

import datetime as dt
import json

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


# --------------------------------------------------------------------------- audit checkpoints


def verify_with_the_public_key_alone(checkpoint, jwks):
    """What a receiver does with nothing but the published key: check the DSSE signature."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    [jwk] = [k for k in jwks["keys"] if k["kid"] == checkpoint["key_id"]]
    key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="))
    envelope = checkpoint["envelope"]
    payload = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    key.verify(
        base64.b64decode(checkpoint["signature"]),
        b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload),
    )
    return json.loads(payload)


def test_a_checkpoint_is_delivered_to_those_who_name_it_and_verifies_with_the_key_alone(
    app, client, registry, receiver
):
    from registry.background import publish_checkpoint

    named = subscribe(registry, receiver.url, events=["audit.checkpoint"])
    everything = subscribe(registry, receiver.url, events=["*"])
    registry.create_model("fraud")
    head = registry.get("/api/v1/audit/verify").get_json()

    with app.app_context():
        published = publish_checkpoint(app)
    assert (published.seq, published.hash) == (head["head_seq"], head["head_hash"])
    (pending,) = [d for d in log(registry, named["id"]) if d["event"] == "audit.checkpoint"]
    assert all(d["event"] != "audit.checkpoint" for d in log(registry, everything["id"]))

    assert send(app, pending["id"]).state == "delivered"
    (request,) = receiver.wait_for(1)
    body = standardwebhooks.Webhook(named["secret"]).verify(request["body"], request["headers"])
    assert body["type"] == "audit.checkpoint"
    checkpoint = body["data"]["checkpoint"]
    assert (checkpoint["seq"], checkpoint["hash"]) == (head["head_seq"], head["head_hash"])
    jwks = client.get("/api/v1/audit/checkpoint-keys").get_json()  # public: no token
    statement = verify_with_the_public_key_alone(checkpoint, jwks)
    assert statement["subject"][0]["digest"]["sha256"] == head["head_hash"]
    # The event names the head before it; the ledger verifies with it, and counts it.
    result = registry.post("/api/v1/audit/verify", checkpoint, expect=200).get_json()
    assert result["ok"] is True, result
    assert result["checkpoints_checked"] == 1
    assert result["head_seq"] == checkpoint["seq"] + 1


def test_a_checkpoint_is_published_only_when_something_was_recorded(app, registry):
    from registry.domain import checkpoints

    keyring = app.extensions[checkpoints.EXTENSION]
    registry.create_model("fraud")
    with app.app_context():
        first = checkpoints.publish(db.session, keyring, min_interval=0)
        db.session.commit()
        assert first is not None
        assert checkpoints.publish(db.session, keyring, min_interval=0) is None  # unmoved
        db.session.commit()
    registry.create_model("churn")
    with app.app_context():
        # Another process published a moment ago: this one leaves it.
        assert checkpoints.publish(db.session, keyring, min_interval=3600) is None
        second = checkpoints.publish(db.session, keyring, min_interval=0)
        db.session.commit()
    assert second.seq == first.seq + 2  # the first checkpoint's event, then churn


def test_a_rewrite_before_a_recorded_checkpoint_fails_plain_verify(app, committed, registry):
    """Checkpoints kept in the ledger itself: re-hashing history under one is caught even
    without a saved copy (a rewriter cannot re-sign it without the key)."""
    from registry.background import publish_checkpoint
    from tests.integration.api.test_checkpoints import rewrite

    registry.create_model("fraud")
    registry.put("/api/v1/models/fraud/tags/team", {"value": "risk"})
    with app.app_context():
        published = publish_checkpoint(app)
    registry.put("/api/v1/models/fraud/tags/team", {"value": "fraud"})
    assert registry.get("/api/v1/audit/verify").get_json()["ok"] is True
    rewrite(app, published.seq, actor="user:somebody-else")

    result = registry.get("/api/v1/audit/verify").get_json()
    assert result["first_bad_seq"] is None  # the chain was recomputed...
    assert result["ok"] is False  # ...but the checkpoint inside it no longer matches
    assert [p["kind"] for p in result["problems"]] == ["checkpoint_mismatch"]
