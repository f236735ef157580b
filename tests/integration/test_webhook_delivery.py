"""Delivering webhooks to a real HTTP receiver: signing, retries, refusals, giving up."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
import standardwebhooks

from registry.delivery import outbox
from registry.delivery.sender import Target, deliver
from registry.domain import webhooks
from registry.extensions import db
from registry.orm import WebhookDelivery
from registry.orm.base import utcnow
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
        lapsed = utcnow() + webhooks.LEASE + dt.timedelta(seconds=1)
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
        later = utcnow() + dt.timedelta(seconds=61)
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
    from registry.delivery.embedded import publish_checkpoint

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
    from registry.delivery.embedded import publish_checkpoint
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


# --------------------------------------------------------------------------- where to


@pytest.fixture
def reach(app):
    """Put other delivery rules in force for one test, as the settings would."""
    hooks = outbox.runtime(app)
    saved = hooks.target

    def use(**rules):
        hooks.target = Target(timeout=5, **rules)

    yield use
    hooks.target = saved


@pytest.mark.parametrize(
    ("url", "rules", "reason"),
    [
        ("http://hooks.example.com/in", {}, "plain http://"),
        ("http://hooks.example.com/in", {"allow_private": True}, "plain http://"),
        ("http://10.0.0.5/in", {"allow_private": True}, "plain http://"),
        ("http://127.0.0.1:9/in", {}, "a loopback address"),
        ("https://169.254.169.254/latest/meta-data", {"allow_private": True}, "metadata"),
        ("https://100.100.100.200/latest", {"allow_private": True}, "metadata"),
        ("https://192.0.0.192/opc/v2", {"allow_private": True}, "metadata"),
        ("https://[2002:7f00:1::1]/in", {"allow_private": True}, "carrying 127.0.0.1"),
        ("https://[2002:a9fe:a9fe::1]/in", {"allow_private": True}, "carrying 169.254.169.254"),
        ("https://[64:ff9b::a9fe:a9fe]/in", {"allow_private": True}, "carrying 169.254.169.254"),
    ],
)
def test_a_subscription_to_where_deliveries_may_not_go_is_400(registry, reach, url, rules, reason):
    reach(**rules)
    response = registry.post("/api/v1/webhooks", {"url": url, "events": ["*"]}, expect=400)
    assert response.get_json()["error_code"] == "INVALID_ARGUMENT"
    assert reason in response.get_json()["message"]
    assert registry.get("/api/v1/webhooks").get_json()["webhooks"] == []


def test_plain_http_is_accepted_when_allowed_and_checked_again_on_reactivation(registry, reach):
    reach(allow_http=True)
    hook = subscribe(registry, "http://hooks.example.com/in")
    registry.patch(f"/api/v1/webhooks/{hook['id']}", {"active": False})
    reach()  # the setting is withdrawn: the subscription may not come back as it is
    refused = registry.patch(f"/api/v1/webhooks/{hook['id']}", {"active": True}, expect=400)
    assert "plain http://" in refused.get_json()["message"]
    moved = registry.patch(
        f"/api/v1/webhooks/{hook['id']}", {"active": True, "url": "https://hooks.example.com/in"}
    )
    assert moved.get_json()["active"] is True
    registry.patch(
        f"/api/v1/webhooks/{hook['id']}", {"url": "http://hooks.example.com/in"}, expect=400
    )


@pytest.mark.parametrize(
    ("url", "target", "reason"),
    [
        # Subscribed while the rules allowed it; the delivery checks the address again.
        ("http://10.255.255.1/hook", Target(allow_private=True, timeout=1), "plain http://"),
        ("https://[2002:7f00:1::1]/hook", Target(allow_private=True, timeout=1), "127.0.0.1"),
        ("https://100.100.100.200/x", Target(allow_private=True, timeout=1), "metadata"),
    ],
)
def test_a_delivery_where_deliveries_may_not_go_fails_unsent(
    app, registry, reach, url, target, reason
):
    reach(allow_loopback=True, allow_private=True, allow_http=True)
    if "100.100.100.200" in url:  # never subscribable: written as it was before the rule
        hook = subscribe(registry, "https://hooks.example.com/x", events=["model.created"])
        with app.app_context():
            db.session.execute(sa.text("UPDATE webhooks SET url = :u"), {"u": url})
            db.session.commit()
    else:
        hook = subscribe(registry, url, events=["model.created"])
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])

    outcome = send(app, pending["id"], target=target)

    assert outcome.state == "failed"  # refused before connecting: no retry can help
    (done,) = log(registry, hook["id"])
    assert done["last_error"].startswith("refused: ")
    assert reason in done["last_error"]
    assert done["attempts"][0]["status_code"] is None


def test_plain_http_to_this_machine_is_delivered_with_loopback_allowed(app, registry, receiver):
    hook = subscribe(registry, receiver.url.replace("127.0.0.1", "localhost"))
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])
    assert send(app, pending["id"], target=Target(allow_loopback=True, timeout=5)).state == (
        "delivered"
    )
    assert len(receiver.wait_for(1)) == 1


def test_what_the_databricks_signature_binds_against_replays(app, registry, receiver):
    """X-Databricks-Signature covers the body only (Databricks' scheme has no timestamp).
    The body carries the event's time and its audit seq, so a receiver that rejects stale
    bodies and remembers the seqs it has seen within that window refuses a replay; a retry
    or redelivery is the same body, seq and webhook-id, so de-duplicating covers it too."""
    receiver.script = [(500, {}, 0)]
    hook = subscribe(registry, receiver.url, events=["model.created"], databricks_signature=True)
    registry.create_model("fraud")
    (pending,) = log(registry, hook["id"])
    (event,) = registry.get("/api/v1/audit?event=model.created").get_json()["events"]

    assert send(app, pending["id"]).state == "pending"
    assert send(app, pending["id"]).state == "delivered"
    registry.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{pending['id']}/redeliver", {})
    send(app, pending["id"])

    first, retry, redelivered = receiver.wait_for(3)
    for request in (first, retry, redelivered):
        assert request["headers"]["x-databricks-signature"] == webhooks.databricks_signature(
            hook["secret"], request["body"]
        )
        assert request["body"] == first["body"]
        assert request["headers"]["webhook-id"] == pending["message_id"]
    body = json.loads(first["body"])
    assert body["data"]["seq"] == event["seq"]
    sent_at = dt.datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert sent_at == dt.datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
