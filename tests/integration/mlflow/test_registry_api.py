"""The MLflow model-registry routes on the wire: MLflow's messages, error codes and statuses,
over the same domain (events, permissions, governance) as the native API."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from registry.extensions import db
from registry.orm import AuditEvent
from tests.conftest import DEFAULT_POLICIES


def test_messages_have_mlflow_shapes(mlflow_api):
    model = mlflow_api.model("fraud", tags=[{"key": "team", "value": "risk"}])
    assert model["name"] == "fraud"
    assert isinstance(model["creation_timestamp"], int)
    assert model["creation_timestamp"] > 1_600_000_000_000  # milliseconds, not seconds
    assert model["tags"] == [{"key": "team", "value": "risk"}]
    assert "description" not in model  # MLflow leaves an empty description out
    version = mlflow_api.version("fraud", description="first", run_link="http://ci/1")
    assert version["version"] == "1"
    assert version["status"] == "READY"
    assert version["current_stage"] == "None"
    assert version["run_id"] == ""
    assert (version["description"], version["run_link"]) == ("first", "http://ci/1")
    assert version["user_id"] == "service:admin"
    got = mlflow_api.get("model-versions/get", name="fraud", version="1")["model_version"]
    assert got == version


def test_latest_versions_cover_every_stage_and_follow_stage_names_in_any_case(mlflow_api):
    mlflow_api.model_with_versions("fraud", 4)
    mlflow_api.stage("fraud", "1", "archived")
    mlflow_api.stage("fraud", "2", "Staging")
    mlflow_api.stage("fraud", "3", "PRODUCTION")
    every = mlflow_api.post("registered-models/get-latest-versions", name="fraud")
    assert {(v["version"], v["current_stage"]) for v in every["model_versions"]} == {
        ("1", "Archived"),
        ("2", "Staging"),
        ("3", "Production"),
        ("4", "None"),
    }
    production = mlflow_api.get(
        "registered-models/get-latest-versions", name="fraud", stages=["production"]
    )
    assert [v["version"] for v in production["model_versions"]] == ["3"]
    model = mlflow_api.get("registered-models/get", name="fraud")["registered_model"]
    assert len(model["latest_versions"]) == 4
    assert mlflow_api.error(
        "POST", "registered-models/get-latest-versions", 400, name="fraud", stages=["Prod"]
    ) == ("INVALID_PARAMETER_VALUE")


def test_archive_existing_versions_archives_the_incumbents_of_the_target_stage(mlflow_api):
    mlflow_api.model_with_versions("fraud", 3)
    mlflow_api.stage("fraud", "1", "Production")
    mlflow_api.stage("fraud", "2", "Staging")
    moved = mlflow_api.stage("fraud", "3", "Production", archive=True)
    assert moved["current_stage"] == "Production"
    stages = {
        v["version"]: v["current_stage"]
        for v in mlflow_api.get("model-versions/search", filter="name='fraud'")["model_versions"]
    }
    assert stages == {"1": "Archived", "2": "Staging", "3": "Production"}
    assert (
        mlflow_api.error(
            "POST",
            "model-versions/transition-stage",
            400,
            name="fraud",
            version="2",
            stage="Archived",
            archive_existing_versions=True,
        )
        == "INVALID_PARAMETER_VALUE"
    )
    # The stage table has no way back from Production to None: its own code, and a 4xx.
    assert (
        mlflow_api.error(
            "POST",
            "model-versions/transition-stage",
            400,
            name="fraud",
            version="3",
            stage="None",
            archive_existing_versions=False,
        )
        == "INVALID_STATE_TRANSITION"
    )


def test_a_move_the_policy_wants_approved_is_refused_naming_the_policy(mlflow_api, use_policies):
    use_policies(DEFAULT_POLICIES)
    mlflow_api.model("fraud")
    mlflow_api.version("fraud")
    # Staging: an admin is an eligible approver, so its own approval applies the move.
    assert mlflow_api.stage("fraud", "1", "Staging")["current_stage"] == "Staging"
    body = mlflow_api.post(
        "model-versions/transition-stage",
        403,
        name="fraud",
        version="1",
        stage="Production",
        archive_existing_versions=True,
    )
    assert body["error_code"] == "PERMISSION_DENIED"
    assert "'production'" in body["message"]
    assert "/api/2.0/mlflow/transition-requests/create" in body["message"]
    version = mlflow_api.get("model-versions/get", name="fraud", version="1")["model_version"]
    assert version["current_stage"] == "Staging"
    pending = mlflow_api.get("transition-requests/list", name="fraud", version="1")
    assert pending["requests"] == []


def test_errors_use_mlflow_codes_and_statuses(mlflow_api, registry, client):
    mlflow_api.model("fraud")
    assert mlflow_api.error("POST", "registered-models/create", 400, name="fraud") == (
        "RESOURCE_ALREADY_EXISTS"
    )
    assert mlflow_api.error("GET", "registered-models/get", 404, name="nope") == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert mlflow_api.error("GET", "model-versions/get", 404, name="fraud", version="7") == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert mlflow_api.error("GET", "model-versions/get", 400, name="fraud", version="x") == (
        "INVALID_PARAMETER_VALUE"
    )
    assert mlflow_api.error("POST", "model-versions/create", 400, name="fraud") == (
        "INVALID_PARAMETER_VALUE"
    )
    assert mlflow_api.error("POST", "registered-models/create", 400, name="a/b") == (
        "INVALID_PARAMETER_VALUE"
    )
    assert mlflow_api.error("GET", "runs/get", 404, run_id="x") == "ENDPOINT_NOT_FOUND"
    # A route asked with a method it does not take: the JSON code the client falls back on.
    assert mlflow_api.error("PUT", "registered-models/get-latest-versions", 404) == (
        "ENDPOINT_NOT_FOUND"
    )
    bad_json = client.post(
        "/api/2.0/mlflow/registered-models/create",
        data="{not json",
        headers={"Authorization": f"Bearer {mlflow_api.token}"},
    )
    assert (bad_json.status_code, bad_json.get_json()["error_code"]) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    # The native API keeps its own codes.
    native = registry.get("/api/v1/models/nope", expect=404)
    assert native.get_json()["error_code"] == "NOT_FOUND"


def test_tags_and_their_deletion_even_when_absent(mlflow_api):
    mlflow_api.model("fraud")
    mlflow_api.version("fraud")
    mlflow_api.post("registered-models/set-tag", name="fraud", key="team", value="risk")
    mlflow_api.post("model-versions/set-tag", name="fraud", version="1", key="auc", value="0.9")
    model = mlflow_api.get("registered-models/get", name="fraud")["registered_model"]
    assert model["tags"] == [{"key": "team", "value": "risk"}]
    version = model["latest_versions"][0]
    assert version["tags"] == [{"key": "auc", "value": "0.9"}]
    mlflow_api.delete("registered-models/delete-tag", name="fraud", key="team")
    mlflow_api.delete("registered-models/delete-tag", name="fraud", key="never-set")
    mlflow_api.delete("model-versions/delete-tag", name="fraud", version="1", key="auc")
    mlflow_api.delete("model-versions/delete-tag", name="fraud", version="1", key="auc")
    model = mlflow_api.get("registered-models/get", name="fraud")["registered_model"]
    assert model["tags"] == []
    assert model["latest_versions"][0]["tags"] == []
    assert mlflow_api.error("DELETE", "registered-models/delete-tag", 404, name="x", key="k") == (
        "RESOURCE_DOES_NOT_EXIST"
    )


def test_aliases(mlflow_api):
    mlflow_api.model("fraud")
    mlflow_api.version("fraud")
    mlflow_api.version("fraud")
    mlflow_api.post("registered-models/alias", name="fraud", alias="champion", version="1")
    mlflow_api.post("registered-models/alias", name="fraud", alias="champion", version="2")
    found = mlflow_api.get("registered-models/alias", name="fraud", alias="champion")
    assert found["model_version"]["version"] == "2"
    assert found["model_version"]["aliases"] == ["champion"]
    model = mlflow_api.get("registered-models/get", name="fraud")["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]
    latest = mlflow_api.get("registered-models/alias", name="fraud", alias="Latest")
    assert latest["model_version"]["version"] == "2"
    # MLflow answers an unknown alias of a known model as a bad parameter.
    assert mlflow_api.error("GET", "registered-models/alias", 400, name="fraud", alias="x") == (
        "INVALID_PARAMETER_VALUE"
    )
    assert mlflow_api.error("GET", "registered-models/alias", 404, name="nope", alias="x") == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert (
        mlflow_api.error(
            "POST", "registered-models/alias", 400, name="fraud", alias="v1", version="1"
        )
        == "INVALID_PARAMETER_VALUE"
    )
    mlflow_api.delete("registered-models/alias", name="fraud", alias="champion")
    mlflow_api.delete("registered-models/alias", name="fraud", alias="champion")
    model = mlflow_api.get("registered-models/get", name="fraud")["registered_model"]
    assert model["aliases"] == []


def test_rename_update_and_delete(mlflow_api):
    mlflow_api.model("fraud", description="old")
    mlflow_api.version("fraud")
    mlflow_api.version("fraud")
    renamed = mlflow_api.post("registered-models/rename", name="fraud", new_name="fraud-eu")
    assert renamed["registered_model"]["name"] == "fraud-eu"
    assert mlflow_api.error(
        "POST", "registered-models/rename", 404, name="fraud", new_name="x"
    ) == ("RESOURCE_DOES_NOT_EXIST")
    mlflow_api.model("other")
    assert mlflow_api.error(
        "POST", "registered-models/rename", 400, name="other", new_name="fraud-eu"
    ) == ("RESOURCE_ALREADY_EXISTS")
    updated = mlflow_api.patch("registered-models/update", name="fraud-eu", description="new")
    assert updated["registered_model"]["description"] == "new"
    version = mlflow_api.patch(
        "model-versions/update", name="fraud-eu", version="1", description="checked"
    )
    assert version["model_version"]["description"] == "checked"
    assert mlflow_api.get("model-versions/get-download-uri", name="fraud-eu", version="1") == {
        "artifact_uri": "s3://bucket/model"
    }
    mlflow_api.stage("fraud-eu", "2", "Production")
    assert mlflow_api.error(
        "DELETE", "model-versions/delete", 409, name="fraud-eu", version="2"
    ) == ("RESOURCE_CONFLICT")
    mlflow_api.delete("model-versions/delete", name="fraud-eu", version="1")
    assert mlflow_api.error("GET", "model-versions/get", 404, name="fraud-eu", version="1") == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert mlflow_api.version("fraud-eu")["version"] == "3"  # a deleted number is not reused
    mlflow_api.stage("fraud-eu", "2", "Archived")
    mlflow_api.delete("registered-models/delete", name="fraud-eu")
    assert mlflow_api.error("GET", "registered-models/get", 404, name="fraud-eu") == (
        "RESOURCE_DOES_NOT_EXIST"
    )


def test_viewers_read_but_cannot_write(mlflow_api, mlflow_as):
    mlflow_api.model("fraud")
    mlflow_api.version("fraud")
    viewer = mlflow_as("viewer")
    assert viewer.get("registered-models/get", name="fraud")["registered_model"]["name"] == "fraud"
    assert viewer.get("registered-models/search")["registered_models"][0]["name"] == "fraud"
    for method, endpoint, fields in [
        ("POST", "registered-models/create", {"name": "mine"}),
        ("POST", "model-versions/create", {"name": "fraud", "source": "s3://b/k"}),
        ("POST", "registered-models/set-tag", {"name": "fraud", "key": "k", "value": "v"}),
        ("POST", "registered-models/alias", {"name": "fraud", "alias": "a", "version": "1"}),
        (
            "POST",
            "model-versions/transition-stage",
            {
                "name": "fraud",
                "version": "1",
                "stage": "Staging",
                "archive_existing_versions": False,
            },
        ),
        ("DELETE", "registered-models/delete", {"name": "fraud"}),
    ]:
        assert viewer.error(method, endpoint, 403, **fields) == "PERMISSION_DENIED"


def test_callers_see_only_the_models_they_may_read(mlflow_api, mlflow_as):
    mlflow_api.model("fraud-eu")
    mlflow_api.model("churn")
    mlflow_api.version("churn")
    scoped = mlflow_as("contributor", model_pattern="fraud-*")
    names = [m["name"] for m in scoped.get("registered-models/search")["registered_models"]]
    assert names == ["fraud-eu"]
    assert scoped.get("model-versions/search").get("model_versions", []) == []
    assert scoped.error("GET", "registered-models/get", 404, name="churn") == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert scoped.error("POST", "model-versions/create", 404, name="churn", source="s3://b") == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    anonymous = mlflow_as("viewer")
    anonymous.token = None
    assert anonymous.error("GET", "registered-models/get", 401, name="churn") == "UNAUTHENTICATED"


def test_basic_auth_carries_the_token_as_password(client, tokens):
    token = tokens("viewer")
    credentials = base64.b64encode(f"anyone:{token}".encode()).decode()
    ok = client.get(
        "/api/2.0/mlflow/registered-models/search",
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert ok.status_code == 200
    wrong = base64.b64encode(b"anyone:mgt_not-a-token").decode()
    refused = client.get(
        "/api/2.0/mlflow/registered-models/search", headers={"Authorization": f"Basic {wrong}"}
    )
    assert (refused.status_code, refused.get_json()["error_code"]) == (401, "UNAUTHENTICATED")
    native = client.get("/api/v1/models", headers={"Authorization": f"Basic {credentials}"})
    assert native.status_code == 401  # the native API takes bearer tokens only


def test_the_web_ui_prefix_serves_the_same_routes(mlflow_api):
    mlflow_api.model("fraud")
    body = mlflow_api.get("/ajax-api/2.0/mlflow/registered-models/get", name="fraud")
    assert body["registered_model"]["name"] == "fraud"


def test_mlflow_calls_record_the_native_events(app, mlflow_api):
    mlflow_api.model("fraud")
    mlflow_api.version("fraud")
    mlflow_api.stage("fraud", "1", "Staging")
    mlflow_api.post("registered-models/alias", name="fraud", alias="champ", version="1")
    with app.app_context():
        recorded = db.session.execute(
            sa.select(AuditEvent.event)
            .where(AuditEvent.event.not_like("token.%"))
            .order_by(AuditEvent.seq)
        ).scalars()
        assert list(recorded) == [
            "model.created",
            "model_version.created",
            "transition_request.created",
            "model_version.stage_changed",
            "transition_request.applied",
            "model_version.alias_set",
        ]


def test_a_model_serving_in_production_cannot_be_renamed_through_mlflow(mlflow_api):
    mlflow_api.model("fraud")
    mlflow_api.version("fraud")
    mlflow_api.post(
        "model-versions/transition-stage", name="fraud", version="1", stage="Production"
    )
    assert (
        mlflow_api.error("POST", "registered-models/rename", 409, name="fraud", new_name="x")
        == "RESOURCE_CONFLICT"
    )
    model = mlflow_api.get("registered-models/get", name="fraud")["registered_model"]
    assert model["name"] == "fraud"


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        b'{"name": "m", "tags": [' + b'{"key": ' * 40 + b'"k"' + b"}" * 40 + b"]}",
    ],
    ids=["past-the-recursion-limit", "in-a-field", "objects"],
)
@pytest.mark.parametrize(
    "endpoint",
    ["registered-models/create", "model-versions/create", "registered-models/alias"],
)
def test_deeply_nested_bodies_are_invalid_parameter_values(client, tokens, endpoint, raw):
    response = client.post(
        f"/api/2.0/mlflow/{endpoint}",
        data=raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {tokens('admin')}"},
    )
    assert response.status_code == 400
    assert response.get_json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "nested" in response.get_json()["message"]
