"""The console's refusals reach the ledger as the API's do: who, what, why."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.conftest import DEFAULT_POLICIES
from tests.helpers import RegistryClient
from tests.integration.ui.console import Browser, csrf_token


@pytest.fixture
def governed(app: Any, use_policies: Any, registry: RegistryClient) -> dict[str, Any]:
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud")
    registry.create_version("fraud")
    registry.transition("fraud", 1, "Staging")
    return registry.transition("fraud", 1, "Production")


def refusals(registry: RegistryClient) -> list[dict[str, Any]]:
    found = []
    for event in ("access.denied", "transition.refused"):
        found += registry.get("/api/v1/audit", query_string={"event": event}).get_json()["events"]
    return sorted(found, key=lambda e: e["seq"])


def test_a_viewer_approving_in_the_console_is_on_the_record(app, tokens, governed, registry):
    viewer = Browser(app, tokens("viewer", name="peeker"))
    viewer.submit("/ui/inbox", f"/ui/requests/{governed['id']}/approve", expect=403)

    (event,) = refusals(registry)
    assert (event["event"], event["actor"]) == ("access.denied", "service:peeker")
    assert (event["model"], event["version"]) == ("fraud", 1)
    data = event["data"]
    assert (data["reason"], data["action"]) == ("role", "approve")
    assert data["operation"] == "POST /ui/requests/{request_id}/{decision}"
    assert data["request_id"] == governed["id"]


def test_the_requester_approving_in_the_console_is_a_transition_refused(app, governed, registry):
    admin = Browser(app, registry.token)
    admin.submit("/ui/inbox", f"/ui/requests/{governed['id']}/approve", expect=403)
    (event,) = refusals(registry)
    assert (event["event"], event["actor"]) == ("transition.refused", "service:admin")
    assert event["data"]["reason"] == "not_eligible_approver"
    assert event["data"]["policy"] == "production"


def test_a_failed_sign_in_is_on_the_record_by_fingerprint(app, registry):
    pasted = "mgt_" + "y" * 43
    Browser(app).sign_in(pasted, expect=401)
    (event,) = refusals(registry)
    assert (event["event"], event["actor"]) == ("access.denied", "anonymous")
    assert event["data"]["reason"] == "unknown_token"
    assert event["data"]["operation"] == "POST /ui/login"
    assert event["data"]["credential"] == {
        "scheme": "console",
        "fingerprint": "sha256:" + hashlib.sha256(pasted.encode()).hexdigest()[:16],
    }
    assert pasted not in str(event)


def test_a_form_sent_after_the_token_was_revoked_is_on_the_record(app, registry, governed, tokens):
    made = registry.post(
        "/api/v1/tokens", {"name": "lead-carol", "roles": ["approver"]}, expect=201
    ).get_json()
    # An approver token minted over the API waits for a second admin (the default policy).
    second_admin = RegistryClient(registry.client, tokens("admin", name="admin-two"))
    second_admin.post(f"/api/v1/tokens/{made['id']}/approve", {}, expect=200)
    carol = Browser(app, made["token"])
    inbox = carol.page("/ui/inbox")
    registry.delete(f"/api/v1/tokens/{made['id']}", expect=204)
    response = carol.client.post(
        f"/ui/requests/{governed['id']}/approve", data={"csrf_token": csrf_token(inbox)}
    )
    assert response.status_code == 303  # back to sign-in

    (event,) = refusals(registry)
    assert (event["event"], event["actor"]) == ("access.denied", "service:lead-carol")
    assert event["data"]["reason"] == "revoked_token"
    assert event["data"]["credential"]["token_id"] == made["id"]
