"""The governance lifecycle over HTTP, each person with their own real token."""

from __future__ import annotations

import pytest

from tests.conftest import DEFAULT_POLICIES
from tests.helpers import error_code


@pytest.fixture
def people(as_role, registry, use_policies):
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud")
    registry.create_version("fraud")
    registry.create_version("fraud")
    registry.transition("fraud", 2, "Staging")  # Production admits versions from Staging
    return {
        "alice": as_role("contributor", name="alice"),
        "bob": as_role("contributor", "approver", name="bob"),
        "carol": as_role("approver", name="carol"),
        "erin": as_role("approver", name="erin"),
        "dave": as_role("approver", stages=["Staging"], name="dave"),
        "vic": as_role("viewer", name="vic"),
        "admin": registry,
    }


def test_promotion_to_production_through_the_api(people):
    alice, carol, erin = people["alice"], people["carol"], people["erin"]
    staging = alice.transition("fraud", 1, "Staging")
    assert staging["state"] == "pending"
    assert (
        people["dave"]
        .post(f"/api/v1/transition-requests/{staging['id']}/approve", {}, expect=200)
        .get_json()["state"]
        == "applied"
    )

    request = alice.transition("fraud", 1, "Production", comment="shadow run clean")
    assert (request["state"], request["required_approvals"]) == ("pending", 2)
    inbox = carol.get("/api/v1/transition-requests?state=pending").get_json()
    assert [(r["id"], r["available_actions"]) for r in inbox["transition_requests"]] == [
        (request["id"], ["approve", "reject"])
    ]
    refused = people["dave"].post(
        f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=403
    )
    assert error_code(refused) == "PERMISSION_DENIED"
    assert (
        people["vic"]
        .post(f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=403)
        .get_json()["error_code"]
        == "PERMISSION_DENIED"
    )
    first = carol.post(
        f"/api/v1/transition-requests/{request['id']}/approve", {"comment": "eval OK"}, expect=200
    ).get_json()
    assert first["state"] == "pending"
    again = carol.post(f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=422)
    assert error_code(again) == "POLICY_VIOLATION"
    assert again.get_json()["details"]["failed_checks"][0]["check"] == "distinct_approvers"
    done = erin.post(
        f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=200
    ).get_json()
    assert done["state"] == "applied"
    assert [a["by"] for a in done["approvals"]] == ["service:carol", "service:erin"]
    late = people["bob"].post(
        f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=409
    )
    assert error_code(late) == "CONFLICT"
    resolved = alice.get("/api/v1/resolve?uri=models:/fraud/Production").get_json()
    assert resolved["version"] == 1


def test_a_requester_cannot_approve_their_own_production_request(people):
    bob = people["bob"]
    request = bob.transition("fraud", 2, "Production")
    assert request["available_actions"] == ["cancel"]
    refused = bob.post(f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=422)
    assert "forbids approving your own" in refused.get_json()["message"]
    assert refused.get_json()["details"]["failed_checks"][0]["check"] == "self_approval"


def test_reject_and_cancel_through_the_api(people):
    request = people["alice"].transition("fraud", 2, "Production")
    assert (
        error_code(
            people["carol"].post(
                f"/api/v1/transition-requests/{request['id']}/cancel", {}, expect=403
            )
        )
        == "PERMISSION_DENIED"
    )
    rejected = (
        people["carol"]
        .post(
            f"/api/v1/transition-requests/{request['id']}/reject",
            {"comment": "no eval attached"},
            expect=200,
        )
        .get_json()
    )
    assert (rejected["state"], rejected["decision_comment"]) == ("rejected", "no eval attached")
    again = people["alice"].transition("fraud", 2, "Production")
    cancelled = (
        people["alice"]
        .post(f"/api/v1/transition-requests/{again['id']}/cancel", {}, expect=200)
        .get_json()
    )
    assert cancelled["state"] == "cancelled"


def test_viewers_cannot_request_and_contributors_cannot_approve(people):
    response = people["vic"].post(
        "/api/v1/models/fraud/versions/1/transitions", {"to_stage": "Staging"}, expect=403
    )
    assert error_code(response) == "PERMISSION_DENIED"
    request = people["alice"].transition("fraud", 1, "Staging")
    response = people["alice"].post(
        f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=403
    )
    assert error_code(response) == "PERMISSION_DENIED"
