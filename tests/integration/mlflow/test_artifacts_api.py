"""The mlflow-artifacts endpoints: files under <model name>/..., readable and writable as the
model is, write-once, and kept with the model whatever its name."""

from __future__ import annotations

import hashlib

import pytest

from registry.domain.artifacts import ArtifactStore

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"

pytestmark = pytest.mark.usefixtures("artifact_root")  # never the working directory's store


def stored(artifact_root, data: bytes) -> bytes:
    """What the store holds on disk for these bytes (kept by their SHA-256)."""
    return ArtifactStore(artifact_root).blob(hashlib.sha256(data).hexdigest()).read_bytes()


def download(client, token, path):
    response = client.get(f"{ARTIFACTS}/{path}", headers={"Authorization": f"Bearer {token}"})
    body = response.data
    response.close()
    return response.status_code, body


def put(client, token, path, data):
    return client.put(
        f"{ARTIFACTS}/{path}", data=data, headers={"Authorization": f"Bearer {token}"}
    )


def test_upload_list_download(client, mlflow_api, artifact_root):
    mlflow_api.model("fraud")
    big = b"x" * (3 * 1024 * 1024)  # beyond the API's 1 MiB body limit: model files are big
    assert put(client, mlflow_api.token, "fraud/v1/model.bin", big).status_code == 200
    assert put(client, mlflow_api.token, "fraud/v1/MLmodel", b"flavors: {}").status_code == 200
    assert stored(artifact_root, big) == big
    assert mlflow_api.get(ARTIFACTS, path="fraud/v1") == {
        "files": [
            {"path": "MLmodel", "is_dir": False, "file_size": 11},
            {"path": "model.bin", "is_dir": False, "file_size": len(big)},
        ]
    }
    assert mlflow_api.get(ARTIFACTS, path="fraud") == {"files": [{"path": "v1", "is_dir": True}]}
    assert mlflow_api.get(ARTIFACTS) == {"files": [{"path": "fraud", "is_dir": True}]}
    assert mlflow_api.get(ARTIFACTS, path="fraud/v1/MLmodel") == {}  # a file lists nothing
    assert mlflow_api.get(ARTIFACTS, path="fraud/v2") == {}
    response = client.get(
        f"{ARTIFACTS}/fraud/v1/MLmodel", headers={"Authorization": f"Bearer {mlflow_api.token}"}
    )
    assert (response.status_code, response.data) == (200, b"flavors: {}")
    response.close()
    missing = client.get(
        f"{ARTIFACTS}/fraud/v1/nope", headers={"Authorization": f"Bearer {mlflow_api.token}"}
    )
    assert (missing.status_code, missing.get_json()["error_code"]) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


@pytest.mark.parametrize(
    "path",
    ["fraud/../other/x", "fraud/./x", "fraud//x", "fraud/a\\..\\b", "fraud/x%00y", "fraud/"],
)
def test_paths_stay_inside_the_store(client, mlflow_api, artifact_root, path):
    mlflow_api.model("fraud")
    response = put(client, mlflow_api.token, path, b"data")
    assert response.status_code in (400, 404), response.get_json()
    assert response.get_json()["error_code"] in (
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "ENDPOINT_NOT_FOUND",
    )
    assert not (artifact_root.parent / "other").exists()


def test_a_file_is_not_a_directory(client, mlflow_api, artifact_root):
    mlflow_api.model("fraud")
    assert put(client, mlflow_api.token, "fraud/model", b"x").status_code == 200
    under_a_file = put(client, mlflow_api.token, "fraud/model/weights", b"y")
    assert (under_a_file.status_code, under_a_file.get_json()["error_code"]) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    over_a_directory = put(client, mlflow_api.token, "fraud", b"y")
    assert over_a_directory.status_code == 400
    assert mlflow_api.get(ARTIFACTS, path="fraud/model/weights") == {}


def test_files_on_disk_without_a_record_are_never_served(
    client, mlflow_api, artifact_root, tmp_path
):
    """Only recorded files are served, from their SHA-256 in the store: nothing planted under
    the root (the old name-keyed layout, a symbolic link out of it) is reachable."""
    mlflow_api.model("fraud")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    (artifact_root / "fraud").mkdir(parents=True)
    (artifact_root / "fraud" / "escape").symlink_to(outside)
    (artifact_root / "fraud" / "planted").write_text("p")
    assert download(client, mlflow_api.token, "fraud/escape/secret")[0] == 404
    assert download(client, mlflow_api.token, "fraud/planted")[0] == 404
    assert mlflow_api.get(ARTIFACTS, path="fraud") == {}
    assert put(client, mlflow_api.token, "fraud/escape/new", b"x").status_code == 200
    assert not (outside / "new").exists()
    assert download(client, mlflow_api.token, "fraud/escape/new") == (200, b"x")


def test_access_follows_the_models_permissions(client, mlflow_api, mlflow_as, artifact_root):
    mlflow_api.model("fraud")
    mlflow_api.model("churn")
    put(client, mlflow_api.token, "churn/m", b"c")
    viewer = mlflow_as("viewer")
    refused = put(client, viewer.token, "fraud/m", b"x")
    assert (refused.status_code, refused.get_json()["error_code"]) == (403, "PERMISSION_DENIED")
    scoped = mlflow_as("contributor", model_pattern="fraud")
    assert put(client, scoped.token, "fraud/m", b"x").status_code == 200
    hidden = put(client, scoped.token, "churn/m", b"x")
    assert hidden.get_json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert scoped.get(ARTIFACTS) == {"files": [{"path": "fraud", "is_dir": True}]}
    assert scoped.error("GET", ARTIFACTS, 404, path="churn") == "RESOURCE_DOES_NOT_EXIST"
    # Files belong to a registered model: no uploads under a name nobody registered.
    assert put(client, mlflow_api.token, "unregistered/m", b"x").status_code == 404
    anonymous = client.get(f"{ARTIFACTS}/fraud/m")
    assert anonymous.status_code == 401


def test_server_info_says_transfers_are_streamed(client):
    info = client.get("/api/3.0/mlflow/server-info").get_json()
    assert info["multipart_uploads_enabled"] is False
    assert info["multipart_downloads_enabled"] is False


# --------------------------------------------------------------------------- write-once


def uploads_recorded(mlflow_api, model):
    events = mlflow_api.get(
        "/api/v1/audit", event="artifact.uploaded", model=model, max_results=1000
    )["events"]
    return [(e["actor"], e["data"]["path"], e["data"]["size"], e["data"]["sha256"]) for e in events]


def test_an_existing_file_is_never_replaced(client, mlflow_api, artifact_root):
    """The issue's attack: other bytes PUT onto the path a registered version loads from."""
    mlflow_api.model("fraud")
    assert put(client, mlflow_api.token, "fraud/v1/model.pkl", b"approved").status_code == 200
    swap = put(client, mlflow_api.token, "fraud/v1/model.pkl", b"malicious")
    assert swap.status_code == 409
    assert swap.get_json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert hashlib.sha256(b"approved").hexdigest() in swap.get_json()["message"]
    assert download(client, mlflow_api.token, "fraud/v1/model.pkl") == (200, b"approved")
    assert stored(artifact_root, b"approved") == b"approved"
    assert not ArtifactStore(artifact_root).blob(hashlib.sha256(b"malicious").hexdigest()).exists()
    assert [u[1] for u in uploads_recorded(mlflow_api, "fraud")] == ["v1/model.pkl"]


def test_every_upload_is_on_the_ledger_and_a_retry_only_once(client, mlflow_api):
    """MLflow clients retry uploads: the same bytes again succeed, and record nothing new."""
    mlflow_api.model("fraud")
    for _ in range(2):
        assert put(client, mlflow_api.token, "fraud/v1/MLmodel", b"flavors: {}").status_code == 200
    assert put(client, mlflow_api.token, "fraud/v1/empty", b"").status_code == 200
    assert uploads_recorded(mlflow_api, "fraud") == [
        ("service:admin", "v1/MLmodel", 11, hashlib.sha256(b"flavors: {}").hexdigest()),
        ("service:admin", "v1/empty", 0, hashlib.sha256(b"").hexdigest()),
    ]
    assert mlflow_api.get("/api/v1/audit/verify")["ok"] is True


def test_an_upload_is_delivered_to_webhook_subscribers(client, mlflow_api):
    import json

    mlflow_api.model("fraud")
    hook = mlflow_api.post(
        "/api/v1/webhooks", 201, url="https://hooks.example.com/a", events=["artifact.*"]
    )
    put(client, mlflow_api.token, "fraud/v1/model.pkl", b"approved")
    put(client, mlflow_api.token, "fraud/v1/model.pkl", b"approved")  # a retry: no second one
    sent = mlflow_api.get(f"/api/v1/webhooks/{hook['id']}/deliveries")["deliveries"]
    assert [(d["event"], d["model"]) for d in sent] == [("artifact.uploaded", "fraud")]
    data = json.loads(sent[0]["body"])["data"]
    assert (data["path"], data["size"], data["sha256"]) == (
        "v1/model.pkl",
        8,
        hashlib.sha256(b"approved").hexdigest(),
    )


def test_a_rename_keeps_the_files_with_the_model(client, mlflow_api):
    mlflow_api.model("fraud")
    put(client, mlflow_api.token, "fraud/v1/model.pkl", b"approved")
    version = mlflow_api.version("fraud", source="mlflow-artifacts:/fraud/v1")
    mlflow_api.post("registered-models/rename", name="fraud", new_name="fraud-eu")
    moved = mlflow_api.get("model-versions/get", name="fraud-eu", version=version["version"])
    assert moved["model_version"]["source"] == "mlflow-artifacts:/fraud-eu/v1"
    assert download(client, mlflow_api.token, "fraud-eu/v1/model.pkl") == (200, b"approved")
    renamed = mlflow_api.get("/api/v1/audit", event="model.renamed")["events"][-1]
    assert renamed["data"]["sources_rewritten"] == [
        {"version": 1, "from": "mlflow-artifacts:/fraud/v1", "to": "mlflow-artifacts:/fraud-eu/v1"}
    ]
    # The old name no longer reaches them; a new model under it starts with no files, and
    # what is uploaded to it never reaches the renamed model's version.
    assert download(client, mlflow_api.token, "fraud/v1/model.pkl")[0] == 404
    mlflow_api.model("fraud")
    assert mlflow_api.get(ARTIFACTS, path="fraud") == {}
    assert put(client, mlflow_api.token, "fraud/v1/model.pkl", b"stranger").status_code == 200
    assert download(client, mlflow_api.token, "fraud-eu/v1/model.pkl") == (200, b"approved")
    # ...and the renamed model's files stay write-once under their new name.
    assert put(client, mlflow_api.token, "fraud-eu/v1/model.pkl", b"x").status_code == 409


def test_deleting_a_model_tombstones_its_files(app, client, mlflow_api):
    import sqlalchemy as sa

    from registry.extensions import db
    from registry.orm import ArtifactFile

    mlflow_api.model("fraud")
    put(client, mlflow_api.token, "fraud/v1/model.pkl", b"old model")
    mlflow_api.delete("registered-models/delete", name="fraud")
    deleted = mlflow_api.get("/api/v1/audit", event="model.deleted")["events"][-1]
    assert deleted["data"]["artifacts_tombstoned"] == 1
    mlflow_api.model("fraud")
    assert mlflow_api.get(ARTIFACTS, path="fraud") == {}
    assert download(client, mlflow_api.token, "fraud/v1/model.pkl")[0] == 404
    assert put(client, mlflow_api.token, "fraud/v1/model.pkl", b"new model").status_code == 200
    assert download(client, mlflow_api.token, "fraud/v1/model.pkl") == (200, b"new model")
    with app.app_context():
        kept = db.session.execute(
            sa.select(ArtifactFile.deleted_model, ArtifactFile.path, ArtifactFile.sha256).where(
                ArtifactFile.model_id.is_(None)
            )
        ).all()
    assert kept == [("fraud", "v1/model.pkl", hashlib.sha256(b"old model").hexdigest())]


def test_a_version_is_registered_only_from_its_own_models_files(client, mlflow_api):
    mlflow_api.model("fraud")
    mlflow_api.model("churn")
    put(client, mlflow_api.token, "churn/v1/model.pkl", b"churn's")
    foreign = mlflow_api.post(
        "model-versions/create", 400, name="fraud", source="mlflow-artifacts:/churn/v1"
    )
    assert foreign["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "churn" in foreign["message"]
    empty = mlflow_api.post(
        "model-versions/create", 400, name="fraud", source="mlflow-artifacts:/fraud/nothing"
    )
    assert "no files" in empty["message"]
    whole = mlflow_api.post(
        "model-versions/create", 400, name="fraud", source="mlflow-artifacts:/fraud"
    )
    assert whole["error_code"] == "INVALID_PARAMETER_VALUE"


def test_a_registered_versions_files_are_sealed(client, mlflow_api):
    mlflow_api.model("fraud")
    put(client, mlflow_api.token, "fraud/v1/model.pkl", b"approved")
    mlflow_api.version("fraud", source="mlflow-artifacts:/fraud/v1")
    added = put(client, mlflow_api.token, "fraud/v1/extra.py", b"import os")
    assert (added.status_code, added.get_json()["error_code"]) == (409, "RESOURCE_CONFLICT")
    assert put(client, mlflow_api.token, "fraud/v1/model.pkl", b"approved").status_code == 200
    assert put(client, mlflow_api.token, "fraud/v2/model.pkl", b"next").status_code == 200
    assert mlflow_api.get(ARTIFACTS, path="fraud/v1") == {
        "files": [{"path": "model.pkl", "is_dir": False, "file_size": 8}]
    }


def test_a_source_under_a_name_no_model_holds_is_sealed_by_that_name(client, mlflow_api):
    """A tracking server's mlflow-artifacts:/<experiment>/<run> source is taken as given; a
    model created later under that name cannot fill the place after the version's approval."""
    mlflow_api.model("fraud")
    mlflow_api.version("fraud", source="mlflow-artifacts:/7/abc/artifacts/model")
    mlflow_api.model("7")
    late = put(client, mlflow_api.token, "7/abc/artifacts/model/model.pkl", b"late")
    assert late.status_code == 409
    assert "another model" in late.get_json()["message"]
    assert put(client, mlflow_api.token, "7/other/model.pkl", b"fine").status_code == 200
