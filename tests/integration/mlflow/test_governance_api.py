"""Databricks' transition-request and comment calls, on Modelgate's requests and policies."""

from __future__ import annotations

import pytest

from tests.conftest import DEFAULT_POLICIES


@pytest.fixture
def in_staging(mlflow_api, use_policies):
    """fraud version 1 in Staging, under the default policies (Production: two approvers,
    neither the requester)."""
    use_policies(DEFAULT_POLICIES)
    mlflow_api.model("fraud")
    mlflow_api.version("fraud")
    mlflow_api.stage("fraud", "1", "Staging")
    return mlflow_api


def test_request_approve_twice_then_applied(in_staging, mlflow_as):
    requester = mlflow_as("contributor", name="ci")
    created = requester.post(
        "transition-requests/create",
        name="fraud",
        version="1",
        stage="production",
        comment="AUC 0.93",
    )["request"]
    assert (created["to_stage"], created["state"], created["comment"]) == (
        "Production",
        "pending",
        "AUC 0.93",
    )
    assert created["user_id"] == "service:ci"
    assert created["available_actions"] == ["CANCEL_TRANSITION_REQUEST"]

    alice, bob = mlflow_as("approver", name="alice"), mlflow_as("approver", name="bob")
    listed = alice.get("transition-requests/list", name="fraud", version="1")["requests"]
    assert [(r["to_stage"], r["available_actions"]) for r in listed] == [
        ("Production", ["APPROVE_TRANSITION_REQUEST", "REJECT_TRANSITION_REQUEST"])
    ]
    first = alice.post(
        "transition-requests/approve",
        name="fraud",
        version="1",
        stage="Production",
        archive_existing_versions=True,
        comment="checked",
    )["activity"]
    assert (first["activity_type"], first["user_id"], first["comment"], first["state"]) == (
        "APPROVED_REQUEST",
        "service:alice",
        "checked",
        "pending",
    )
    second = bob.post(
        "transition-requests/approve",
        name="fraud",
        version="1",
        stage="Production",
        archive_existing_versions=True,
    )["activity"]
    assert second["state"] == "applied"
    version = bob.get("model-versions/get", name="fraud", version="1")["model_version"]
    assert version["current_stage"] == "Production"
    assert bob.get("transition-requests/list", name="fraud", version="1") == {"requests": []}


def test_reject_and_cancel(in_staging, mlflow_as):
    requester = mlflow_as("contributor", name="ci")
    requester.post("transition-requests/create", name="fraud", version="1", stage="Production")
    approver = mlflow_as("approver", name="alice")
    rejected = approver.post(
        "transition-requests/reject", name="fraud", version="1", stage="Production", comment="no"
    )["activity"]
    assert (rejected["activity_type"], rejected["comment"], rejected["state"]) == (
        "REJECTED_REQUEST",
        "no",
        "rejected",
    )
    requester.post("transition-requests/create", name="fraud", version="1", stage="Production")
    # Databricks names the request by its creator, here with or without the account kind.
    assert requester.error(
        "DELETE",
        "transition-requests/delete",
        404,
        name="fraud",
        version="1",
        stage="Production",
        creator="someone-else",
    ) == ("RESOURCE_DOES_NOT_EXIST")
    cancelled = requester.delete(
        "transition-requests/delete", name="fraud", version="1", stage="Production", creator="ci"
    )["activity"]
    assert (cancelled["activity_type"], cancelled["state"]) == ("CANCELLED_REQUEST", "cancelled")
    assert approver.error(
        "POST", "transition-requests/approve", 404, name="fraud", version="1", stage="Production"
    ) == ("RESOURCE_DOES_NOT_EXIST")


def test_the_cancel_call_also_takes_query_parameters(in_staging, client, tokens):
    token = tokens("contributor", name="ci")
    headers = {"Authorization": f"Bearer {token}"}
    client.post(
        "/api/2.0/mlflow/transition-requests/create",
        json={"name": "fraud", "version": "1", "stage": "Production"},
        headers=headers,
    )
    response = client.delete(
        "/api/2.0/mlflow/transition-requests/delete",
        query_string={"name": "fraud", "version": "1", "stage": "Production", "creator": "ci"},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["activity"]["activity_type"] == "CANCELLED_REQUEST"


def test_a_request_the_policy_applies_at_once_says_so(mlflow_api):
    mlflow_api.model("fraud")
    mlflow_api.version("fraud")
    created = mlflow_api.post(
        "transition-requests/create", name="fraud", version="1", stage="Staging"
    )["request"]
    assert created["state"] == "applied"


def test_viewers_may_not_request_nor_approve(in_staging, mlflow_as):
    viewer = mlflow_as("viewer")
    for endpoint in ("transition-requests/create", "transition-requests/approve"):
        assert viewer.error(
            "POST", endpoint, 403, name="fraud", version="1", stage="Production"
        ) == ("PERMISSION_DENIED")


def test_comments(mlflow_api, mlflow_as):
    mlflow_api.model("fraud")
    mlflow_api.version("fraud")
    body = mlflow_as("approver", name="alice").post(
        "comments/create", name="fraud", version="1", comment="looks good"
    )["comment"]
    assert (body["user_id"], body["comment"], body["available_actions"]) == (
        "service:alice",
        "looks good",
        [],
    )
    assert mlflow_as("viewer").error(
        "POST", "comments/create", 403, name="fraud", version="1", comment="hi"
    ) == ("PERMISSION_DENIED")


def test_two_tokens_of_one_person_approve_once_through_databricks_calls(in_staging, mlflow_as):
    """The Databricks layer counts people as the native API does: a second approval by the
    same owner, through another token, is refused and changes nothing."""
    mlflow_as("contributor", name="ci").post(
        "transition-requests/create", name="fraud", version="1", stage="Production"
    )
    first = mlflow_as("approver", name="mal-1", owner="user:mal")
    second = mlflow_as("approver", name="mal-2", owner="user:mal")
    address = {"name": "fraud", "version": "1", "stage": "Production"}
    assert first.post("transition-requests/approve", **address)["activity"]["state"] == "pending"
    refused = second.call("POST", "transition-requests/approve", 403, **address)
    assert refused["error_code"] == "PERMISSION_DENIED"
    assert refused["details"]["failed_checks"][0]["check"] == "distinct_approvers"
    [pending] = second.get("transition-requests/list", name="fraud", version="1")["requests"]
    assert pending["available_actions"] == ["REJECT_TRANSITION_REQUEST"]
    version = second.get("model-versions/get", name="fraud", version="1")["model_version"]
    assert version["current_stage"] == "Staging"


def test_a_sock_of_the_requester_cannot_approve_through_databricks_calls(in_staging, mlflow_as):
    mlflow_as("contributor", name="eve-ci", owner="user:eve").post(
        "transition-requests/create", name="fraud", version="1", stage="Production"
    )
    sock = mlflow_as("approver", name="eve-lead", owner="user:eve")
    refused = sock.call(
        "POST", "transition-requests/approve", 403, name="fraud", version="1", stage="Production"
    )
    assert refused["details"]["failed_checks"][0]["check"] == "self_approval"
    # Databricks addresses a cancel by its creator: the person behind it is understood too.
    cancelled = mlflow_as("contributor", name="eve-laptop", owner="user:eve").delete(
        "transition-requests/delete",
        name="fraud",
        version="1",
        stage="Production",
        creator="user:eve",
    )["activity"]
    assert cancelled["state"] == "cancelled"


@pytest.fixture
def serving(in_staging, mlflow_as):
    """fraud version 1 promoted to Production by two approvers; version 2 in None."""
    api = in_staging
    api.version("fraud")
    api.post("transition-requests/create", name="fraud", version="1", stage="Production")
    for approver in ("alice", "bob"):
        mlflow_as("approver", name=approver).post(
            "transition-requests/approve",
            name="fraud",
            version="1",
            stage="Production",
            archive_existing_versions=True,
        )
    return api


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_contributor_moves_no_alias_through_the_mlflow_layer(serving, mlflow_as, version):
    contributor = mlflow_as("contributor")
    body = contributor.post(
        "registered-models/alias", 403, name="fraud", alias="champion", version=version
    )
    assert body["error_code"] == "PERMISSION_DENIED"
    assert "aliases-follow-production" in body["message"]
    model = serving.get("registered-models/get", name="fraud")["registered_model"]
    assert model["aliases"] == []


def test_through_the_mlflow_layer_an_alias_names_only_the_version_in_production(serving, mlflow_as):
    lead = mlflow_as("contributor", "approver")
    refused = lead.post("registered-models/alias", 403, name="fraud", alias="champion", version="2")
    assert refused["error_code"] == "PERMISSION_DENIED"  # MLflow's word for a policy refusal
    assert refused["details"]["failed_checks"][0]["check"] == "alias_stage"
    lead.post("registered-models/alias", name="fraud", alias="champion", version="1")
    found = serving.get("registered-models/alias", name="fraud", alias="champion")
    assert found["model_version"]["version"] == "1"
    # Removing it while version 1 serves is nobody's alone, an admin's included.
    for caller in (lead, serving, mlflow_as("contributor")):
        body = caller.delete("registered-models/alias", None, name="fraud", alias="champion")
        assert body["error_code"] == "PERMISSION_DENIED"
    assert serving.get("registered-models/alias", name="fraud", alias="champion")
