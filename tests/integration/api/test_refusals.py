"""Refused attempts on the record: access.denied and transition.refused events, with who made
them, what they tried and why they were refused, and a flood counted instead of recorded."""

from __future__ import annotations

import hashlib
import json
import textwrap

import pytest
import sqlalchemy as sa

from registry.extensions import db
from registry.orm import AuditChainHead, AuditEvent
from registry.web import refusals
from tests.conftest import DEFAULT_POLICIES
from tests.helpers import RegistryClient, error_code
from tests.integration.api.test_metrics import scrape, value

REFUSALS = ("access.denied", "transition.refused")


def refused(auditor, event="*", **filters):
    """The refusal events in the ledger, through the audit API as an auditor reads them."""
    names = [event] if event != "*" else list(REFUSALS)
    found = []
    for name in names:
        page = auditor.get("/api/v1/audit", query_string={"event": name, **filters}).get_json()
        found += page["events"]
    return sorted(found, key=lambda e: e["seq"])


@pytest.fixture
def governed(registry, use_policies):
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud")
    registry.create_version("fraud")
    registry.create_version("fraud")
    registry.transition("fraud", 2, "Staging")
    return registry


def test_a_viewer_approving_is_denied_and_recorded_with_the_actor(governed, client, tokens):
    request = governed.transition("fraud", 2, "Production")
    viewer = RegistryClient(client, tokens("viewer", name="peeker"))
    response = viewer.post(
        f"/api/v1/transition-requests/{request['id']}/approve",
        {"comment": "lgtm"},
        expect=403,
        headers={"X-Request-ID": "viewer-approves-1"},
    )
    assert error_code(response) == "PERMISSION_DENIED"

    (event,) = refused(governed)
    assert event["event"] == "access.denied"
    assert (event["actor"], event["actor_kind"]) == ("service:peeker", "service")
    assert event["data"]["person"] == "user:peeker"  # the token's owner
    assert event["request_id"] == response.get_json()["request_id"]  # what the caller got
    assert event["client_request_id"] == "viewer-approves-1"  # the caller's id, kept apart
    assert (event["model"], event["version"]) == ("fraud", 2)  # found from the request
    data = event["data"]
    assert data["error_code"] == "PERMISSION_DENIED"
    assert data["reason"] == "role"
    assert data["action"] == "approve"
    assert data["operation"] == "POST /api/v1/transition-requests/{request_id}/approve"
    assert data["request_id"] == request["id"]
    assert data["to_stage"] == "Production"
    assert data["client"] == "127.0.0.1"
    assert "credential" not in data  # the caller authenticated: its id says who
    # Nothing the viewer sent was applied; the ledger still verifies.
    assert governed.get("/api/v1/audit/verify").get_json()["ok"] is True


def test_a_contributor_minting_an_admin_token_is_denied_and_recorded(registry, client, tokens):
    contributor = RegistryClient(client, tokens("contributor", name="ci"))
    response = contributor.post(
        "/api/v1/tokens", {"name": "backdoor", "roles": ["admin"]}, expect=403
    )
    assert error_code(response) == "PERMISSION_DENIED"
    (event,) = refused(registry, actor="service:ci")
    assert event["event"] == "access.denied"
    assert event["data"]["action"] == "admin"
    assert event["data"]["operation"] == "POST /api/v1/tokens"
    assert event["model"] is None
    assert "backdoor" not in json.dumps(event)  # bodies are never recorded
    assert (
        registry.get("/api/v1/tokens", query_string={"name": "backdoor"}).get_json()["tokens"] == []
    )


def test_an_mlflow_transition_to_production_without_rights_is_a_transition_refused(
    governed, client, tokens
):
    token = tokens("contributor", name="trainer")
    response = client.post(
        "/api/2.0/mlflow/model-versions/transition-stage",
        json={"name": "fraud", "version": "2", "stage": "Production"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert response.get_json()["error_code"] == "PERMISSION_DENIED"

    (event,) = refused(governed)
    assert event["event"] == "transition.refused"
    assert event["actor"] == "service:trainer"
    assert (event["model"], event["version"]) == ("fraud", 2)
    data = event["data"]
    assert (data["error_code"], data["reason"]) == ("PERMISSION_DENIED", "needs_approval")
    assert data["to_stage"] == "Production"
    assert data["policy"] == "production"
    assert data["operation"] == "POST /api/2.0/mlflow/model-versions/transition-stage"
    assert governed.version("fraud", 2)["stage"] == "Staging"


GATED = textwrap.dedent(
    """\
    policies:
      - name: validated-staging
        stage: Staging
        min_approvals: 0
        gates:
          required_tags: {validation: [passed]}
          metrics: ["metric.auc >= 0.9"]
    """
)


def test_a_policy_violation_is_recorded_with_the_checks_that_failed(
    registry, use_policies, tmp_path
):
    policy_file = tmp_path / "gated.yaml"
    policy_file.write_text(GATED)
    use_policies(str(policy_file))
    registry.create_model("fraud")
    registry.create_version("fraud", tags={"metric.auc": "0.5"})
    response = registry.post(
        "/api/v1/models/fraud/versions/1/transitions", {"to_stage": "Staging"}, expect=422
    )
    assert error_code(response) == "POLICY_VIOLATION"
    names = sorted(c["check"] for c in response.get_json()["details"]["failed_checks"])

    (event,) = refused(registry, event="transition.refused", model="fraud")
    assert (event["actor"], event["version"]) == ("service:admin", 1)
    data = event["data"]
    assert (data["error_code"], data["reason"]) == ("POLICY_VIOLATION", "policy_checks")
    assert len(names) == 2
    assert sorted(data["failed_checks"]) == names
    assert data["policy"] == "validated-staging"
    assert data["to_stage"] == "Staging"
    assert data["operation"] == "POST /api/v1/models/{name}/versions/{version}/transitions"


def test_governance_conflicts_are_transition_refusals(governed, client, tokens):
    request = governed.transition("fraud", 2, "Production")
    again = governed.post(
        "/api/v1/models/fraud/versions/2/transitions", {"to_stage": "Production"}, expect=409
    )
    assert error_code(again) == "CONFLICT"
    alice = RegistryClient(client, tokens("approver", name="alice"))
    alice.post(f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=200)
    again = alice.post(f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=422)
    assert error_code(again) == "POLICY_VIOLATION"  # one person approves once
    governed.post(f"/api/v1/transition-requests/{request['id']}/cancel", {}, expect=200)
    alice.post(f"/api/v1/transition-requests/{request['id']}/reject", {}, expect=409)
    # The requester comes back to a request it cancelled.
    own = governed.post(f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=409)
    assert error_code(own) == "CONFLICT"

    events = refused(governed)
    assert [(e["event"], e["actor"], e["data"]["reason"]) for e in events] == [
        ("transition.refused", "service:admin", "already_pending"),
        ("transition.refused", "service:alice", "policy_checks"),
        ("transition.refused", "service:alice", "not_pending"),
        ("transition.refused", "service:admin", "not_pending"),
    ]
    assert events[0]["data"]["pending_request_id"] == request["id"]
    assert events[1]["data"]["failed_checks"] == ["distinct_approvers"]
    assert all(e["model"] == "fraud" and e["version"] == 2 for e in events)


def test_approvals_the_policy_forbids_are_transition_refusals(governed, client, tokens):
    request = governed.transition("fraud", 2, "Production")
    staging_only = RegistryClient(client, tokens("approver", name="bob", stages=["Staging"]))
    staging_only.post(f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=403)
    governed.post(f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=403)

    events = refused(governed)
    assert [(e["event"], e["actor"], e["data"]["reason"]) for e in events] == [
        ("transition.refused", "service:bob", "not_eligible_approver"),
        ("transition.refused", "service:admin", "not_eligible_approver"),
    ]
    assert {e["data"]["policy"] for e in events} == {"production"}


def test_an_unknown_token_is_recorded_by_fingerprint_never_by_secret(registry, client):
    secret = "mgt_" + "guessed-secret-value-0123456789"
    response = client.post(
        "/api/v1/models", json={"name": "x"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 401

    (event,) = refused(registry)
    assert event["event"] == "access.denied"
    assert (event["actor"], event["actor_kind"]) == ("anonymous", "anonymous")
    data = event["data"]
    assert (data["error_code"], data["reason"]) == ("UNAUTHENTICATED", "unknown_token")
    expected = "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]
    assert data["credential"] == {"scheme": "bearer", "fingerprint": expected}
    assert data["action"] == "create_model"
    assert data["client"] == "127.0.0.1"
    export = registry.get("/api/v1/audit/export", query_string={"format": "ndjson"})
    assert secret not in export.get_data(as_text=True)
    assert "guessed-secret" not in export.get_data(as_text=True)


def test_no_token_and_basic_credentials_are_recorded_too(registry, client):
    import base64

    client.delete("/api/v1/models/fraud")
    basic = base64.b64encode(b"me:not-a-real-token-at-all").decode()
    client.post(
        "/api/2.0/mlflow/registered-models/create",
        json={"name": "fraud"},
        headers={"Authorization": f"Basic {basic}"},
    )
    first, second = refused(registry)
    assert first["data"]["credential"] == {"scheme": "none"}
    assert first["data"]["reason"] == "missing_credentials"
    assert second["data"]["credential"] == {
        "scheme": "basic",
        "fingerprint": "sha256:" + hashlib.sha256(b"not-a-real-token-at-all").hexdigest()[:16],
    }
    assert second["model"] == "fraud"  # MLflow names its target in the body


def test_a_revoked_token_is_recorded_against_its_holder(app, registry, client, tokens):
    secret = tokens("contributor", name="deploy-bot")
    listed = registry.get("/api/v1/tokens", query_string={"name": "deploy-bot"}).get_json()
    token_id = listed["tokens"][0]["id"]
    registry.delete(f"/api/v1/tokens/{token_id}", expect=204)
    response = client.post(
        "/api/v1/models", json={"name": "x"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 401

    (event,) = refused(registry, actor="service:deploy-bot")
    assert event["actor_kind"] == "service"
    assert event["data"]["reason"] == "revoked_token"
    assert event["data"]["credential"]["token_id"] == token_id


def test_acting_outside_ones_grants_answers_404_and_is_recorded(registry, client, tokens):
    registry.create_model("payments")
    token = tokens("contributor", name="fraud-team", model_pattern="fraud*")
    scoped = RegistryClient(client, token)
    scoped.put("/api/v1/models/payments/tags/owner", {"value": "me"}, expect=404)
    scoped.get("/api/v1/models/payments", expect=404)  # a read: not recorded

    (event,) = refused(registry)
    assert event["event"] == "access.denied"
    assert (event["actor"], event["model"]) == ("service:fraud-team", "payments")
    assert (event["data"]["error_code"], event["data"]["reason"]) == ("NOT_FOUND", "outside_grants")


def test_refused_reads_and_bad_input_are_not_refusals(registry, client, tokens):
    viewer = RegistryClient(client, tokens("viewer"))
    viewer.get("/api/v1/audit", expect=403)
    client.get("/api/v1/models")  # no token, a read
    registry.post("/api/v1/models", {"name": "bad/name"}, expect=400)
    registry.post("/api/v1/models/nope/versions", {"source": "s3://x"}, expect=404)
    assert refused(registry) == []


def test_a_flood_is_recorded_up_to_the_threshold_then_counted(app, registry, client, tokens):
    gate = refusals.reset(app)
    now = [1_800_000_000.0]  # a frozen clock: the test decides when the minute closes
    gate.clock = lambda: now[0]
    viewer = tokens("viewer", name="flooder")
    sent = gate.per_credential + 7
    before = scrape(client)
    answered = []
    for i in range(sent):
        response = client.post(
            "/api/v1/tokens",
            json={"name": f"t{i}", "roles": ["admin"]},
            headers={"Authorization": f"Bearer {viewer}"},
        )
        assert response.status_code == 403  # every one is answered as before
        answered.append(response.get_json()["request_id"])
    one_by_one = refused(registry, actor="service:flooder")
    assert len(one_by_one) == gate.per_credential
    assert [e["request_id"] for e in one_by_one] == answered[: gate.per_credential]

    after = scrape(client)
    for recorded, n in (("individually", gate.per_credential), ("counted", 7)):
        labels = {"event": "access.denied", "recorded": recorded}
        assert value(after, "modelgate_refusals_total", **labels) == (
            value(before, "modelgate_refusals_total", **labels) + n
        )

    assert refusals.flush(app) == 0  # the minute is still open
    now[0] += 60
    assert refusals.flush(app) == 7
    events = refused(registry, actor="service:flooder")
    assert len(events) == gate.per_credential + 1
    summary = events[-1]
    assert summary["event"] == "access.denied"
    assert summary["request_id"] is None
    data = summary["data"]
    assert data["aggregated"] is True
    assert (data["count"], data["recorded_individually"]) == (7, gate.per_credential)
    assert data["first_request_id"] == answered[gate.per_credential]
    assert data["last_request_id"] == answered[-1]
    assert data["operations"] == {"POST /api/v1/tokens": 7}
    assert data["reasons"] == {"role": 7}
    assert data["window_start"] == "2027-01-15T08:00:00.000000Z"
    assert refusals.flush(app, everything=True) == 0  # each summary is written once


def test_a_flood_of_unknown_tokens_is_counted_per_address(app, registry, client):
    gate = refusals.reset(app)
    gate.clock = lambda: 1_800_000_000.0
    for i in range(gate.per_credential + 5):
        client.delete(
            "/api/v1/models/fraud", headers={"Authorization": f"Bearer guess-{i:04d}-xxxxxxxx"}
        )
    assert refusals.flush(app, everything=True) == 5  # as at a clean shutdown
    events = refused(registry, actor="anonymous")
    assert len(events) == gate.per_credential + 1
    assert len({e["data"]["credential"]["fingerprint"] for e in events[:-1]}) == 10
    data = events[-1]["data"]
    assert (data["count"], data["distinct_credentials"]) == (5, 5)
    assert data["clients"] == {"127.0.0.1": 5}


def test_the_cap_across_credentials_bounds_a_flood_from_many(app, registry, client, tokens):
    app.config["REFUSALS_PER_MINUTE"] = 3
    try:
        gate = refusals.reset(app)
    finally:
        app.config["REFUSALS_PER_MINUTE"] = 300
    gate.clock = lambda: 1_800_000_000.0
    for n in range(4):
        viewer = RegistryClient(client, tokens("viewer", name=f"v{n}"))
        viewer.post("/api/v1/models", {"name": "x"}, expect=403)
        viewer.post("/api/v1/models", {"name": "x"}, expect=403)
    assert len(refused(registry)) == 3
    assert refusals.flush(app, everything=True) == 5
    counts = {e["actor"]: e["data"].get("count") for e in refused(registry)[3:]}
    assert counts == {"service:v1": 1, "service:v2": 2, "service:v3": 2}


def test_a_refusal_that_cannot_be_recorded_still_gets_its_answer(app, registry, client, tokens):
    viewer = RegistryClient(client, tokens("viewer", name="unlucky"))
    with app.app_context():
        # Occupy the next ledger position, so the refusal's append fails for real.
        head = db.session.get(AuditChainHead, 1)
        db.session.execute(
            sa.insert(AuditEvent).values(
                seq=head.seq + 1,
                at=head.at,
                actor="x",
                actor_kind="x",
                event="x",
                data={},
                prev_hash=head.hash,
                hash="0" * 64,
            )
        )
        db.session.commit()
    response = viewer.post("/api/v1/models", {"name": "x"}, expect=403)
    assert error_code(response) == "PERMISSION_DENIED"
    assert refused(registry, actor="service:unlucky") == []  # it really was not recorded
    viewer.get("/api/v1/models", expect=200)  # and the service goes on
