"""Four eyes count people, not tokens: a token's owner is the person behind its calls, and
handing out approver or admin power over the API needs a second admin."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.domain import identity
from registry.domain.principal import system
from registry.extensions import db
from registry.orm import AuditEvent
from tests.conftest import DEFAULT_POLICIES
from tests.helpers import RegistryClient, error_code


def operator_token(app, name, *roles, owner):
    """A token the operator mints at the machine (`modelgate token create --owner ...`)."""
    with app.app_context():
        info = identity.create_token(
            db.session, system(), name=name, roles=list(roles), owner=owner
        )
        db.session.commit()
    return info.token


def ledger(app, event):
    with app.app_context():
        return [
            row.data
            for row in db.session.execute(
                sa.select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.seq)
            ).scalars()
        ]


@pytest.fixture
def without_token_rule(tmp_path, use_policies):
    """The default transition policies without the `tokens` rule: approver tokens minted
    over the API work at once, so only the four-eyes rules stand between socks and
    Production."""
    text = (Path(DEFAULT_POLICIES) / "default.yaml").read_text()
    path = tmp_path / "policies.yaml"
    path.write_text(text.split("\ntokens:")[0].rsplit("\n# Who may hand out", 1)[0])
    return use_policies(str(path))


@pytest.fixture
def fraud(registry):
    registry.create_model("fraud")
    registry.create_version("fraud")
    registry.transition("fraud", 1, "Staging")
    return "fraud"


def approve(client, request_id, expect):
    return client.post(f"/api/v1/transition-requests/{request_id}/approve", {}, expect=expect)


# --------------------------------------------------------------------------- sock puppets


def test_an_admins_sock_puppet_tokens_cannot_approve_its_own_request(
    app, registry, without_token_rule, fraud
):
    socks = [
        registry.post(
            "/api/v1/tokens", {"name": f"sock-{i}", "roles": ["approver"]}, expect=201
        ).get_json()
        for i in (1, 2)
    ]
    assert [s["owner"] for s in socks] == ["user:admin", "user:admin"]  # the minter's person
    request = registry.transition("fraud", 1, "Production")
    assert request["state"] == "pending"
    for sock in socks:
        refused = approve(RegistryClient(registry.client, sock["token"]), request["id"], 422)
        assert error_code(refused) == "POLICY_VIOLATION"
        [check] = refused.get_json()["details"]["failed_checks"]
        assert (check["check"], check["person"], check["requested_by"]) == (
            "self_approval",
            "user:admin",
            "service:admin",
        )
    assert registry.version("fraud", 1)["stage"] == "Staging"
    approved = ledger(app, "transition_request.approved")
    assert [e for e in approved if e["request_id"] == request["id"]] == []


def test_two_tokens_of_one_approver_count_once(app, registry, as_role, fraud, use_policies):
    use_policies(DEFAULT_POLICIES)
    alice = as_role("contributor", name="alice")
    first = RegistryClient(registry.client, operator_token(app, "m1", "approver", owner="user:mal"))
    second = RegistryClient(
        registry.client, operator_token(app, "m2", "approver", owner="user:mal")
    )
    carol = as_role("approver", name="carol")
    request = alice.transition("fraud", 1, "Production")
    assert approve(first, request["id"], 200).get_json()["state"] == "pending"
    inbox = second.get(f"/api/v1/transition-requests/{request['id']}").get_json()
    assert inbox["available_actions"] == ["reject"]  # mal approved already, through m1
    refused = approve(second, request["id"], 422)
    [check] = refused.get_json()["details"]["failed_checks"]
    assert check["check"] == "distinct_approvers"
    assert check["earlier_approval"]["by"] == "service:m1"
    assert "service:m1 already approved" in refused.get_json()["message"]
    done = approve(carol, request["id"], 200).get_json()
    assert done["state"] == "applied"
    assert done["requested_by_person"] == "user:alice"
    assert [(a["by"], a["person"]) for a in done["approvals"]] == [
        ("service:m1", "user:mal"),
        ("service:carol", "user:carol"),
    ]
    [applied] = [
        e for e in ledger(app, "transition_request.applied") if e["request_id"] == request["id"]
    ]
    assert applied["approved_by_people"] == ["user:mal", "user:carol"]
    assert applied["requested_by_person"] == "user:alice"
    history = alice.get("/api/v1/models/fraud/stage-history").get_json()
    [holder] = history["stages"]["Production"]
    assert holder["approved_by_people"] == ["user:mal", "user:carol"]


def test_a_contributor_sock_of_the_requester_cannot_approve_either(
    app, registry, use_policies, fraud
):
    use_policies(DEFAULT_POLICIES)
    asks = RegistryClient(
        registry.client, operator_token(app, "eve-ci", "contributor", owner="user:eve")
    )
    sock = RegistryClient(
        registry.client, operator_token(app, "eve-lead", "approver", owner="user:eve")
    )
    request = asks.transition("fraud", 1, "Production")
    # Her own request, through another token: neither approve nor reject (an approver-only
    # token may not cancel either; her contributor token may).
    assert (
        sock.get(f"/api/v1/transition-requests/{request['id']}").get_json()["available_actions"]
        == []
    )
    refused = approve(sock, request["id"], 422)
    assert refused.get_json()["details"]["failed_checks"][0]["check"] == "self_approval"
    assert "service:eve-ci filed this request for user:eve" in refused.get_json()["message"]
    rejected = sock.post(f"/api/v1/transition-requests/{request['id']}/reject", {}, expect=403)
    assert "Cancel your own request" in rejected.get_json()["message"]
    asks.post(f"/api/v1/transition-requests/{request['id']}/cancel", {}, expect=200)


def test_the_requesters_own_token_is_refused_as_self_approval(registry, as_role, use_policies):
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud")
    registry.create_version("fraud")
    registry.transition("fraud", 1, "Staging")
    bob = as_role("contributor", "approver", name="bob")
    request = bob.transition("fraud", 1, "Production")
    refused = approve(bob, request["id"], 422)
    assert error_code(refused) == "POLICY_VIOLATION"
    assert refused.get_json()["details"]["failed_checks"][0]["check"] == "self_approval"


# --------------------------------------------------------------------------- owners


def test_tokens_minted_over_the_api_belong_to_the_minters_person(registry, without_token_rule):
    deputy = registry.post(
        "/api/v1/tokens", {"name": "deputy", "roles": ["admin"]}, expect=201
    ).get_json()
    assert (deputy["owner"], deputy["state"]) == ("user:admin", "active")
    minted = RegistryClient(registry.client, deputy["token"]).post(
        "/api/v1/tokens", {"name": "grandchild", "roles": ["viewer"]}, expect=201
    )
    assert minted.get_json()["owner"] == "user:admin"  # chains end at the person
    me = RegistryClient(registry.client, minted.get_json()["token"]).get("/api/v1/me").get_json()
    assert (me["subject"], me["person"]) == ("grandchild", "user:admin")


def test_naming_another_owner_over_the_api_needs_a_second_admin(app, registry, without_token_rule):
    created = registry.post(
        "/api/v1/tokens",
        {"name": "for-bob", "roles": ["viewer"], "owner": "user:bob"},
        expect=201,
    ).get_json()
    assert (created["owner"], created["state"]) == ("user:bob", "pending")
    refused = RegistryClient(registry.client, created["token"]).get("/api/v1/me", expect=401)
    assert "awaits a second admin" in refused.get_json()["message"]
    [event] = ledger(app, "token.created")[-1:]
    assert (event["state"], event["second_admin_needed_for"]) == ("pending", ["owner"])
    for owner in ("bob", "service:ci", "user:", "group:leads"):
        bad = registry.post(
            "/api/v1/tokens", {"name": "x", "roles": ["viewer"], "owner": owner}, expect=400
        )
        assert error_code(bad) == "INVALID_ARGUMENT"


# --------------------------------------------------------------------------- second admin


def test_minting_an_approver_token_over_the_api_needs_a_second_admin(app, registry, use_policies):
    use_policies(DEFAULT_POLICIES)
    created = registry.post(
        "/api/v1/tokens", {"name": "lead", "roles": ["approver"]}, expect=201
    ).get_json()
    assert created["state"] == "pending"
    assert created["token"].startswith("mgt_")  # shown once, now, even though pending
    lead = RegistryClient(registry.client, created["token"])
    assert "awaits a second admin" in lead.get("/api/v1/me", expect=401).get_json()["message"]
    listed = registry.get("/api/v1/tokens?state=pending").get_json()["tokens"]
    assert [t["id"] for t in listed] == [created["id"]]

    path = f"/api/v1/tokens/{created['id']}/approve"
    refused = registry.post(path, {}, expect=422)
    assert refused.get_json()["details"]["failed_checks"][0]["check"] == "second_admin"
    # Another token of the same person is the same admin.
    same = RegistryClient(
        registry.client, operator_token(app, "admin-2", "admin", owner="user:admin")
    )
    assert error_code(same.post(path, {}, expect=422)) == "POLICY_VIOLATION"
    contributor = RegistryClient(
        registry.client, operator_token(app, "dev", "contributor", owner="user:dev")
    )
    assert error_code(contributor.post(path, {}, expect=403)) == "PERMISSION_DENIED"
    root = RegistryClient(registry.client, operator_token(app, "root", "admin", owner="user:root"))
    approved = root.post(path, {}, expect=200).get_json()
    assert (approved["state"], approved["approved_by"]) == ("active", "service:root")
    assert lead.get("/api/v1/me").get_json()["roles"] == ["approver"]
    assert error_code(root.post(path, {}, expect=409)) == "CONFLICT"
    [event] = ledger(app, "token.approved")
    assert (event["token_id"], event["approved_by_person"], event["created_by_person"]) == (
        created["id"],
        "user:root",
        "user:admin",
    )


def test_minting_an_approver_token_with_its_roles_is_recorded_pending(app, registry, use_policies):
    use_policies(DEFAULT_POLICIES)
    registry.post("/api/v1/tokens", {"name": "viewer", "roles": ["viewer"]}, expect=201)
    registry.post("/api/v1/tokens", {"name": "boss", "roles": ["admin", "viewer"]}, expect=201)
    events = ledger(app, "token.created")[-2:]
    assert [(e["name"], e["state"], e["second_admin_needed_for"]) for e in events] == [
        ("viewer", "active", []),
        ("boss", "pending", ["role:admin"]),
    ]
    policies = registry.get("/api/v1/policies").get_json()
    assert policies["tokens"]["second_admin_for_roles"] == ["admin", "approver"]


def test_role_bindings_granting_approver_need_a_second_admin(app, registry, use_policies, tokens):
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud")
    etl = RegistryClient(registry.client, tokens("viewer", name="etl"))
    binding = registry.post(
        "/api/v1/role-bindings", {"subject": "service:etl", "role": "approver"}, expect=201
    ).get_json()
    assert binding["state"] == "pending"
    assert etl.get("/api/v1/me").get_json()["roles"] == ["viewer"]  # grants nothing yet
    path = f"/api/v1/role-bindings/{binding['id']}/approve"
    assert error_code(registry.post(path, {}, expect=422)) == "POLICY_VIOLATION"
    # etl's owner may not approve a grant to etl either.
    etl_owner = RegistryClient(
        registry.client, operator_token(app, "etl-owner", "admin", owner="user:etl")
    )
    assert (
        etl_owner.post(path, {}, expect=422).get_json()["details"]["failed_checks"][0]["check"]
        == "second_admin"
    )
    root = RegistryClient(registry.client, operator_token(app, "root", "admin", owner="user:root"))
    assert root.post(path, {}, expect=200).get_json()["state"] == "active"
    assert etl.get("/api/v1/me").get_json()["roles"] == ["approver", "viewer"]
    contributor = registry.post(
        "/api/v1/role-bindings", {"subject": "service:etl", "role": "contributor"}, expect=201
    ).get_json()
    assert contributor["state"] == "active"  # not a governed role
    [event] = ledger(app, "role_binding.approved")
    assert (event["binding_id"], event["approved_by_person"]) == (binding["id"], "user:root")


def test_the_operator_mints_approver_tokens_at_once(app, use_policies, client):
    use_policies(DEFAULT_POLICIES)
    token = operator_token(app, "lead-alice", "approver", owner="user:alice")
    me = RegistryClient(client, token).get("/api/v1/me").get_json()
    assert (me["roles"], me["person"]) == (["approver"], "user:alice")
