"""/api/v1/webhooks: subscriptions, secrets, the outbox written with each change, the log."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from registry.delivery import outbox
from registry.domain import registered_models, webhooks
from registry.domain.principal import system
from registry.extensions import db
from registry.orm import AuditEvent, Webhook, WebhookDelivery
from registry.orm.base import utcnow
from tests.conftest import DEFAULT_POLICIES
from tests.helpers import error_code

HOOK = "https://hooks.example.com/in"


def subscribe(registry, **body):
    body = {"url": HOOK, "events": ["*"], **body}
    return registry.post("/api/v1/webhooks", body, expect=201).get_json()


def deliveries(registry, webhook_id, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return registry.get(f"/api/v1/webhooks/{webhook_id}/deliveries?{q}").get_json()


def bodies(registry, webhook_id):
    return [json.loads(d["body"]) for d in deliveries(registry, webhook_id)["deliveries"]]


def test_the_secret_is_shown_once_and_stored_encrypted(app, registry):
    created = subscribe(registry, description="deploys", model_filter="fraud-*")
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["*"]
    assert created["model_filter"] == "fraud-*"
    assert created["active"] is True
    assert created["disabled_reason"] is None
    fetched = registry.get(f"/api/v1/webhooks/{created['id']}").get_json()
    assert "secret" not in fetched
    listed = registry.get("/api/v1/webhooks").get_json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]
    with app.app_context():
        stored = db.session.execute(sa.text("SELECT secret FROM webhooks")).scalar_one()
    assert created["secret"] not in stored
    assert outbox.runtime(app).box.open(stored) == created["secret"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"url": "https://[::1/x"}, "url"),
        ({"url": "https://example.com:99999/x"}, "url"),
        ({"url": "https://example.com/" + "x" * 3000}, "url"),
        ({"events": []}, "events"),
        ({"events": ["model.exploded"]}, "events"),
        ({"events": ["token.created"]}, "events"),  # audit-only: never delivered
        ({"model_filter": ""}, "model_filter"),
    ],
)
def test_bad_subscriptions_are_refused_with_the_field_named(registry, body, field):
    response = registry.post("/api/v1/webhooks", {"url": HOOK, "events": ["*"], **body})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert error_code(response) == "INVALID_ARGUMENT"
    assert field in json.dumps(response.get_json())
    assert registry.get("/api/v1/webhooks").get_json()["webhooks"] == []


def test_only_admins_manage_webhooks(as_role, registry):
    hook = subscribe(registry)
    for role in ("viewer", "contributor", "approver", "auditor"):
        caller = as_role(role)
        assert error_code(caller.get("/api/v1/webhooks", expect=403)) == "PERMISSION_DENIED"
        caller.post("/api/v1/webhooks", {"url": HOOK, "events": ["*"]}, expect=403)
        caller.post(f"/api/v1/webhooks/{hook['id']}/test", expect=403)


def test_unknown_webhooks_and_deliveries_are_not_found(registry):
    assert error_code(registry.get("/api/v1/webhooks/99", expect=404)) == "NOT_FOUND"
    registry.patch("/api/v1/webhooks/99", {"active": False}, expect=404)
    registry.delete("/api/v1/webhooks/99", expect=404)
    hook = subscribe(registry)
    registry.post(f"/api/v1/webhooks/{hook['id']}/deliveries/99/redeliver", expect=404)


def test_a_change_writes_one_delivery_per_matching_subscription(registry):
    everything = subscribe(registry)
    stages = subscribe(registry, events=["model_version.stage_changed"])
    requests_ = subscribe(registry, events=["transition_request.*"])
    other_models = subscribe(registry, model_filter="churn-*")
    paused = subscribe(registry, active=False)

    registry.create_model("fraud")
    registry.create_version("fraud")
    registry.transition("fraud", 1, "Staging")

    ledger = [e["event"] for e in registry.get("/api/v1/audit?model=fraud").get_json()["events"]]
    assert "model_version.stage_changed" in ledger
    # Every event of the model, newest first (the log's order).
    assert [b["type"] for b in bodies(registry, everything["id"])] == ledger[::-1]
    (stage_changed,) = bodies(registry, stages["id"])
    assert stage_changed["type"] == "model_version.stage_changed"
    data = stage_changed["data"]
    assert (data["model"], data["version"]) == ("fraud", 1)
    assert (data["from_stage"], data["to_stage"]) == ("None", "Staging")
    assert data["actor"] == "service:admin"
    assert isinstance(data["seq"], int)
    assert {b["type"] for b in bodies(registry, requests_["id"])} == {
        "transition_request.created",
        "transition_request.applied",
    }
    assert bodies(registry, other_models["id"]) == []
    assert bodies(registry, paused["id"]) == []


def test_deliveries_carry_the_audit_sequence_of_their_event(app, registry):
    hook = subscribe(registry)
    registry.create_model("fraud")
    (delivery,) = deliveries(registry, hook["id"])["deliveries"]
    with app.app_context():
        event = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.event == "model.created")
        ).scalar_one()
    assert delivery["event_seq"] == event.seq
    assert json.loads(delivery["body"])["data"]["seq"] == event.seq
    assert delivery["state"] == "pending"
    assert delivery["attempts"] == []
    assert delivery["message_id"].startswith("msg_")


def test_identity_and_webhook_changes_reach_the_ledger_but_no_subscriber(registry):
    hook = subscribe(registry)
    registry.post("/api/v1/tokens", {"name": "ci", "roles": ["viewer"]}, expect=201)
    registry.patch(f"/api/v1/webhooks/{hook['id']}", {"description": "x"})
    assert bodies(registry, hook["id"]) == []
    events = [e["event"] for e in registry.get("/api/v1/audit").get_json()["events"]]
    assert events[-3:] == ["webhook.created", "token.created", "webhook.updated"]


def test_governance_refusals_are_delivered_access_refusals_are_not(registry, as_role, use_policies):
    everything = subscribe(registry)
    refusals = subscribe(registry, events=["transition.refused"])
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud")
    registry.create_version("fraud")
    viewer = as_role("viewer")
    viewer.post("/api/v1/models/fraud/versions", {"source": "s3://x"}, expect=403)
    registry.transition("fraud", 1, "Production", expect=422)  # not from None

    ledger = [e["event"] for e in registry.get("/api/v1/audit?model=fraud").get_json()["events"]]
    assert "access.denied" in ledger
    (refused,) = bodies(registry, refusals["id"])
    assert refused["type"] == "transition.refused"
    data = refused["data"]
    assert (data["model"], data["version"], data["actor"]) == ("fraud", 1, "service:admin")
    assert (data["reason"], data["to_stage"]) == ("policy_checks", "Production")
    assert "access.denied" not in {b["type"] for b in bodies(registry, everything["id"])}
    response = registry.post(
        "/api/v1/webhooks", {"url": "https://hooks.example.com/x", "events": ["access.denied"]}
    )
    assert response.status_code == 400  # audit-only: no one can subscribe to it


def test_a_rolled_back_change_leaves_no_delivery_and_sends_nothing(app, registry):
    subscribe(registry)
    hooks = outbox.runtime(app)
    with app.app_context():
        hooks.wake.clear()
        registered_models.create_model(db.session, system(), name="fraud")
        db.session.rollback()
        assert not hooks.wake.is_set()
        assert db.session.execute(sa.select(sa.func.count(WebhookDelivery.id))).scalar() == 0

        # A savepoint rolled back inside a transaction that commits: only its events go.
        registered_models.create_model(db.session, system(), name="kept")
        with db.session.begin_nested() as savepoint:
            registered_models.create_model(db.session, system(), name="discarded")
            savepoint.rollback()
        db.session.commit()
        assert hooks.wake.is_set()  # the embedded sender is woken only after the commit
        models = db.session.execute(sa.select(WebhookDelivery.model)).scalars().all()
    assert models == ["kept"]


def test_patch_changes_the_subscription_and_reactivation_clears_the_failure(app, registry):
    hook = subscribe(registry)
    with app.app_context():
        db.session.execute(
            sa.text(
                "UPDATE webhooks SET active = false, failure_streak = 10, "
                "disabled_reason = 'gave up' WHERE id = :id"
            ),
            {"id": hook["id"]},
        )
        db.session.commit()
    assert registry.get(f"/api/v1/webhooks/{hook['id']}").get_json()["disabled_reason"]
    changed = registry.patch(
        f"/api/v1/webhooks/{hook['id']}",
        {"active": True, "events": ["model.*"], "url": "https://other.example.com/h"},
    ).get_json()
    assert changed["active"] is True
    assert changed["disabled_reason"] is None
    assert changed["events"] == ["model.*"]
    assert changed["url"] == "https://other.example.com/h"
    (updated,) = [
        e for e in registry.get("/api/v1/audit?event=webhook.updated").get_json()["events"]
    ]
    assert updated["data"]["before"]["url"] == HOOK
    assert updated["data"]["after"]["url"] == "https://other.example.com/h"


def test_rotation_signs_with_both_secrets_until_the_overlap_ends(app, registry):
    hook = subscribe(registry)
    rotated = registry.post(
        f"/api/v1/webhooks/{hook['id']}/rotate-secret", {"overlap_seconds": 3600}, expect=200
    ).get_json()
    assert rotated["secret"] != hook["secret"]
    assert rotated["previous_secret_expires_at"]
    box = outbox.runtime(app).box
    with app.app_context():
        row = db.session.get(Webhook, hook["id"])
        now = utcnow()
        assert webhooks.signing_secrets(row, box, now) == [rotated["secret"], hook["secret"]]
        later = row.previous_expires_at + dt.timedelta(seconds=1)
        assert webhooks.signing_secrets(row, box, later) == [rotated["secret"]]
    immediate = registry.post(
        f"/api/v1/webhooks/{hook['id']}/rotate-secret", {"overlap_seconds": 0}, expect=200
    ).get_json()
    assert immediate["previous_secret_expires_at"] is None
    response = registry.post(
        f"/api/v1/webhooks/{hook['id']}/rotate-secret", {"overlap_seconds": -1}
    )
    assert response.status_code == 422
    assert error_code(response) == "INVALID_ARGUMENT"


def test_test_ping_and_redeliver_queue_deliveries(registry):
    hook = subscribe(registry, active=False)  # a ping reaches even a paused subscriber
    queued = registry.post(f"/api/v1/webhooks/{hook['id']}/test", expect=202).get_json()
    (ping,) = deliveries(registry, hook["id"])["deliveries"]
    assert ping["id"] == queued["delivery_id"]
    assert ping["event"] == "webhook.test"
    assert json.loads(ping["body"])["type"] == "webhook.test"
    registry.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{ping['id']}/redeliver", expect=202)
    (again,) = deliveries(registry, hook["id"])["deliveries"]
    assert again["message_id"] == ping["message_id"]  # the receiver's idempotency key
    other = subscribe(registry)
    registry.post(f"/api/v1/webhooks/{other['id']}/deliveries/{ping['id']}/redeliver", expect=404)


def test_deliveries_page_newest_first_and_filter_by_state(registry):
    hook = subscribe(registry, events=["model.created"])
    for i in range(5):
        registry.create_model(f"m{i}")
    first = deliveries(registry, hook["id"], max_results=2)
    assert [json.loads(d["body"])["data"]["model"] for d in first["deliveries"]] == ["m4", "m3"]
    second = deliveries(registry, hook["id"], max_results=2, page_token=first["next_page_token"])
    assert [d["model"] for d in second["deliveries"]] == ["m2", "m1"]
    assert deliveries(registry, hook["id"], state="delivered")["deliveries"] == []
    assert len(deliveries(registry, hook["id"], state="pending")["deliveries"]) == 5
    bad = registry.get(f"/api/v1/webhooks/{hook['id']}/deliveries?state=lost", expect=422)
    assert error_code(bad) == "INVALID_ARGUMENT"
    tampered = registry.get(
        f"/api/v1/webhooks/{hook['id']}/deliveries?page_token=x{first['next_page_token']}",
        expect=400,
    )
    assert error_code(tampered) == "INVALID_ARGUMENT"


def test_deleting_a_webhook_removes_its_log_and_stops_deliveries(registry):
    hook = subscribe(registry)
    registry.create_model("fraud")
    registry.delete(f"/api/v1/webhooks/{hook['id']}", expect=204)
    registry.get(f"/api/v1/webhooks/{hook['id']}/deliveries", expect=404)
    registry.create_model("churn")
    deleted = registry.get("/api/v1/audit?event=webhook.deleted").get_json()["events"]
    assert deleted[0]["data"]["url"] == HOOK
