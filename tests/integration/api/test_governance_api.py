"""Governance over HTTP with one identity (the open admin of the embedded default); the
multi-person lifecycle with real tokens is in test_identity_lifecycle.py."""

from __future__ import annotations

import pytest

from tests.conftest import DEFAULT_POLICIES, ROOT, make_app
from tests.helpers import error_code


@pytest.fixture
def governed(registry, use_policies):
    """The registry under the default policies (tests otherwise run under open.yaml)."""
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud")
    registry.create_version("fraud")
    registry.create_version("fraud", tags={"metric.auc": "0.95"})
    registry.transition("fraud", 2, "Staging")  # Production admits versions from Staging
    return registry


def test_policies_are_listed_as_loaded(governed):
    body = governed.get("/api/v1/policies").get_json()
    assert [p["name"] for p in body["policies"]] == [
        "staging",
        "production",
        "retire-production",
        "demote-production",
        "archive",
        "unassign",
    ]
    production = body["policies"][1]
    assert production["min_approvals"] == 2
    assert production["forbid_self_approval"] is True
    assert body["files"]
    assert len(body["digest"]) == 64


def test_a_production_request_waits_for_approvers(governed):
    info = governed.transition("fraud", 2, "Production", comment="please review")
    assert info["state"] == "pending"
    assert (info["policy"], info["required_approvals"]) == ("production", 2)
    assert info["expires_at"].endswith("Z")
    assert info["available_actions"] == ["cancel"]  # the admin may not approve Production
    assert governed.version("fraud", 2)["stage"] == "Staging"
    response = governed.post(f"/api/v1/transition-requests/{info['id']}/approve", {}, expect=403)
    assert error_code(response) == "PERMISSION_DENIED"
    duplicate = governed.post(
        "/api/v1/models/fraud/versions/2/transitions", {"to_stage": "Production"}, expect=409
    )
    assert error_code(duplicate) == "CONFLICT"
    assert duplicate.get_json()["details"]["request_id"] == info["id"]
    cancelled = governed.post(
        f"/api/v1/transition-requests/{info['id']}/cancel", {"comment": "wrong one"}, expect=200
    ).get_json()
    assert (cancelled["state"], cancelled["decision_comment"]) == ("cancelled", "wrong one")


def test_staging_applies_at_once_for_an_admin(governed):
    info = governed.transition("fraud", 1, "Staging")
    assert info["state"] == "applied"
    assert [a["by"] for a in info["approvals"]] == ["service:admin"]


def test_list_get_and_filter_requests(governed):
    first = governed.transition("fraud", 2, "Production")
    governed.transition("fraud", 1, "Staging")
    listed = governed.get("/api/v1/transition-requests?state=pending").get_json()
    assert [r["id"] for r in listed["transition_requests"]] == [first["id"]]
    everything = governed.get("/api/v1/transition-requests?model=fraud&max_results=1").get_json()
    assert len(everything["transition_requests"]) == 1
    assert everything["next_page_token"]
    assert (
        governed.get(f"/api/v1/transition-requests/{first['id']}").get_json()["id"] == first["id"]
    )
    assert error_code(governed.get("/api/v1/transition-requests/99999", expect=404)) == "NOT_FOUND"
    assert (
        error_code(governed.get("/api/v1/transition-requests?state=open", expect=422))
        == "INVALID_ARGUMENT"
    )


def test_evaluate_is_a_dry_run(governed):
    result = governed.post(
        "/api/v1/policies/evaluate",
        {"name": "fraud", "version": 2, "to_stage": "Production"},
        expect=200,
    ).get_json()
    assert result == {
        "allowed": True,
        "policy": "production",
        "required_approvals": 2,
        "approvals_needed": 2,
        "failed_checks": [],
    }
    assert (
        governed.get("/api/v1/transition-requests?state=pending").get_json()["transition_requests"]
        == []
    )
    bad = governed.post(
        "/api/v1/policies/evaluate", {"name": "fraud", "version": 1, "to_stage": "None"}, expect=200
    ).get_json()
    assert bad["allowed"] is False
    assert bad["failed_checks"][0]["check"] == "stage_move"


def test_policy_violations_list_failed_checks(governed, use_policies):
    response = governed.post(
        "/api/v1/models/fraud/versions/1/transitions", {"to_stage": "Production"}, expect=422
    )
    assert error_code(response) == "POLICY_VIOLATION"
    assert [c["check"] for c in response.get_json()["details"]["failed_checks"]] == ["no_policy"]

    use_policies(str(ROOT / "policies" / "examples" / "strict.yaml"))
    response = governed.post(
        "/api/v1/models/fraud/versions/2/transitions", {"to_stage": "Production"}, expect=422
    )
    assert error_code(response) == "POLICY_VIOLATION"
    checks = response.get_json()["details"]["failed_checks"]
    kinds = sorted({c["check"] for c in checks})
    assert "required_tag" in kinds
    assert "required_description" in kinds
    assert "metric" in kinds
    assert all(c["policy"] == "production-gated" and c["message"] for c in checks)
    assert governed.version("fraud", 2)["stage"] == "Staging"  # nothing changed


def test_a_too_short_break_glass_is_an_invalid_argument(governed):
    response = governed.post(
        "/api/v1/models/fraud/versions/1/transitions",
        {"to_stage": "Archived", "break_glass": "x"},
        expect=400,
    )
    assert error_code(response) == "INVALID_ARGUMENT"


def test_comments_on_a_version(governed):
    request_id = governed.transition("fraud", 2, "Production")["id"]
    created = governed.post(
        "/api/v1/models/fraud/versions/2/comments",
        {"text": "offline eval attached", "request_id": request_id},
        expect=201,
    ).get_json()
    assert (created["author"], created["request_id"]) == ("service:admin", request_id)
    listed = governed.get("/api/v1/models/fraud/versions/2/comments").get_json()
    assert [c["text"] for c in listed["comments"]] == ["offline eval attached"]
    assert (
        error_code(
            governed.post("/api/v1/models/fraud/versions/2/comments", {"text": "  "}, expect=400)
        )
        == "INVALID_ARGUMENT"
    )
    assert (
        error_code(
            governed.post(
                "/api/v1/models/fraud/versions/1/comments",
                {"text": "x", "request_id": request_id},
                expect=404,
            )
        )
        == "NOT_FOUND"
    )


def test_an_invalid_policy_stops_the_app_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies:\n  - name: p\n    stage: Production\n    min_approvals: two\n")
    from registry.domain.policy import PolicyError

    with pytest.raises(
        PolicyError, match=r"bad.yaml:4: policy 'p': min_approvals: 'two' is not of type"
    ):
        make_app(f"sqlite:///{tmp_path / 'x.db'}", POLICY_PATH=str(bad))
