"""The mlflow-artifacts endpoints: files under <model name>/..., confined to the store's root,
readable and writable as the model is."""

from __future__ import annotations

import pytest

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def put(client, token, path, data):
    return client.put(
        f"{ARTIFACTS}/{path}", data=data, headers={"Authorization": f"Bearer {token}"}
    )


def test_upload_list_download(client, mlflow_api, artifact_root):
    mlflow_api.model("fraud")
    big = b"x" * (3 * 1024 * 1024)  # beyond the API's 1 MiB body limit: model files are big
    assert put(client, mlflow_api.token, "fraud/v1/model.bin", big).status_code == 200
    assert put(client, mlflow_api.token, "fraud/v1/MLmodel", b"flavors: {}").status_code == 200
    assert (artifact_root / "fraud" / "v1" / "model.bin").read_bytes() == big
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


def test_a_symbolic_link_out_of_the_store_is_not_followed(
    client, mlflow_api, artifact_root, tmp_path
):
    mlflow_api.model("fraud")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    (artifact_root / "fraud").mkdir(parents=True)
    (artifact_root / "fraud" / "escape").symlink_to(outside)
    read = client.get(
        f"{ARTIFACTS}/fraud/escape/secret",
        headers={"Authorization": f"Bearer {mlflow_api.token}"},
    )
    assert read.status_code == 400
    written = put(client, mlflow_api.token, "fraud/escape/new", b"x")
    assert written.status_code == 400
    assert not (outside / "new").exists()


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
