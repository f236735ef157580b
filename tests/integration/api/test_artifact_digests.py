"""Content digests of versions: recorded at registration, shown everywhere a version is, gated
by policy, and re-checked against the store at every stage change."""

from __future__ import annotations

import hashlib
import os

import pytest

from registry.domain import policy_files
from registry.domain.artifacts import ArtifactStore
from tests.conftest import DEFAULT_POLICIES
from tests.helpers import RegistryClient, error_code

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
FILES = {"MLmodel": b"flavors: {}\n", "model.pkl": b"weights", "code/predict.py": b"print(1)\n"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_digest(files: dict[str, bytes]) -> str:
    """The model-signing digest, written out from its definition: SHA-256 over the files'
    digests in path-component order."""
    combined = hashlib.sha256()
    for name in sorted(files, key=lambda n: n.split("/")):
        combined.update(hashlib.sha256(files[name]).digest())
    return "sha256:" + combined.hexdigest()


def upload(registry: RegistryClient, path: str, data: bytes, expect: int = 200) -> None:
    registry.call("PUT", f"{ARTIFACTS}/{path}", expect, data=data)


@pytest.fixture
def stored_version(registry, artifact_root):
    """fraud version 1, registered from files uploaded to the store."""
    registry.create_model("fraud")
    for name, data in FILES.items():
        upload(registry, f"fraud/v1/{name}", data)
    return registry.create_version("fraud", "mlflow-artifacts:/fraud/v1")


def tamper(artifact_root, data: bytes, with_: bytes | None) -> None:
    """Change (or, with None, remove) stored bytes behind Modelgate's back."""
    blob = ArtifactStore(artifact_root).blob(sha(data))
    if with_ is None:
        blob.unlink()
        return
    os.chmod(blob, 0o644)
    blob.write_bytes(with_)


def test_a_version_from_the_store_records_its_digest(registry, stored_version):
    digest = model_digest(FILES)
    assert stored_version["digest"] == digest
    assert registry.version("fraud", 1)["digest"] == digest
    resolved = registry.get("/api/v1/resolve?uri=models:/fraud/1").get_json()
    assert resolved["digest"] == digest
    created = registry.get("/api/v1/audit?event=model_version.created").get_json()["events"]
    assert created[-1]["data"]["digest"] == digest


def test_the_manifest_is_the_statement_model_signing_signs(registry, stored_version):
    response = registry.get("/api/v1/models/fraud/versions/1/manifest")
    assert response.headers["ETag"]
    assert response.get_json() == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "v1", "digest": {"sha256": model_digest(FILES).split(":")[1]}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
            "resources": [
                {"name": "MLmodel", "algorithm": "sha256", "digest": sha(FILES["MLmodel"])},
                {"name": "code/predict.py", "algorithm": "sha256", "digest": sha(b"print(1)\n")},
                {"name": "model.pkl", "algorithm": "sha256", "digest": sha(b"weights")},
            ],
        },
    }


def test_a_single_file_source_is_one_resource_named_dot(registry, stored_version):
    version = registry.create_version("fraud", "mlflow-artifacts:/fraud/v1/model.pkl")
    manifest = registry.get(f"/api/v1/models/fraud/versions/{version['version']}/manifest")
    resources = manifest.get_json()["predicate"]["resources"]
    assert resources == [{"name": ".", "algorithm": "sha256", "digest": sha(b"weights")}]
    assert version["digest"] == model_digest({".": b"weights"})


def test_other_sources_have_the_digest_the_client_gives_or_none(registry):
    registry.create_model("fraud")
    given = "sha256:" + "AB" * 32
    version = registry.create_version("fraud", "s3://models/fraud/1", digest=given)
    assert version["digest"] == given.lower()
    assert registry.create_version("fraud", "s3://models/fraud/2")["digest"] is None
    missing = registry.get("/api/v1/models/fraud/versions/1/manifest", expect=404)
    assert missing.get_json()["details"]["digest"] == given.lower()
    for bad in ("ab" * 32, "sha256:xyz", "md5:" + "ab" * 16, 12):
        refused = registry.post(
            "/api/v1/models/fraud/versions",
            {"source": "s3://models/fraud/3", "digest": bad},
            expect=400 if isinstance(bad, str) else 422,
        )
        assert error_code(refused) == "INVALID_ARGUMENT"


def test_a_digest_cannot_be_claimed_for_files_in_the_store(registry, stored_version):
    refused = registry.post(
        "/api/v1/models/fraud/versions",
        {"source": "mlflow-artifacts:/fraud/v1", "digest": "sha256:" + "0" * 64},
        expect=400,
    )
    assert refused.get_json()["details"]["field"] == "digest"


def test_nobody_sets_the_digest_tag(registry):
    registry.create_model("fraud")
    registry.create_version("fraud")
    refused = registry.put(
        "/api/v1/models/fraud/versions/1/tags/modelgate.digest", {"value": "x"}, expect=400
    )
    assert error_code(refused) == "INVALID_ARGUMENT"
    registry.post(
        "/api/v1/models/fraud/versions",
        {"source": "s3://b/k", "tags": {"modelgate.digest": "sha256:" + "0" * 64}},
        expect=400,
    )


def test_the_mlflow_layer_shows_the_digest_as_a_tag(registry, stored_version):
    digest = model_digest(FILES)
    expected = {"key": "modelgate.digest", "value": digest}
    got = registry.get("/api/2.0/mlflow/model-versions/get?name=fraud&version=1").get_json()
    assert expected in got["model_version"]["tags"]
    found = registry.get("/api/2.0/mlflow/model-versions/search?filter=name='fraud'").get_json()
    assert expected in found["model_versions"][0]["tags"]
    latest = registry.post(
        "/api/2.0/mlflow/registered-models/get-latest-versions", {"name": "fraud"}
    ).get_json()
    assert expected in latest["model_versions"][0]["tags"]
    # A client of the MLflow layer gives a digest for other sources the same way.
    given = "sha256:" + "cd" * 32
    created = registry.post(
        "/api/2.0/mlflow/model-versions/create",
        {
            "name": "fraud",
            "source": "s3://b/2",
            "tags": [{"key": "modelgate.digest", "value": given}],
        },
        expect=200,
    ).get_json()["model_version"]
    assert {"key": "modelgate.digest", "value": given} in created["tags"]
    assert registry.version("fraud", 2)["digest"] == given
    assert registry.version("fraud", 2)["tags"] == {}


REQUIRE_DIGEST = """
policies:
  - name: staging
    stage: Staging
    gates: {require_digest: true}
  - name: archive
    stage: Archived
"""


def test_a_policy_can_require_a_digest(registry, use_policies, tmp_path):
    (tmp_path / "p.yaml").write_text(REQUIRE_DIGEST)
    use_policies(str(tmp_path / "p.yaml"))
    registry.create_model("fraud")
    registry.create_version("fraud", "s3://models/fraud/1")
    refused = registry.transition("fraud", 1, "Staging", expect=422)
    assert [c["check"] for c in refused["details"]["failed_checks"]] == ["digest"]
    registry.create_version("fraud", "s3://models/fraud/2", digest="sha256:" + "ab" * 32)
    assert registry.transition("fraud", 2, "Staging")["state"] == "applied"
    summary = registry.get("/api/v1/policies").get_json()
    staging = next(p for p in summary["policies"] if p["name"] == "staging")
    assert staging["gates"]["require_digest"] is True


@pytest.mark.parametrize("change", [b"malicious", None], ids=["edited", "removed"])
def test_a_stage_change_re_checks_the_files(registry, stored_version, artifact_root, change):
    tamper(artifact_root, b"weights", change)
    before = registry.version("fraud", 1)
    refused = registry.transition("fraud", 1, "Staging", expect=422)
    assert error_code_of(refused) == "POLICY_VIOLATION"
    (check,) = refused["details"]["failed_checks"]
    assert check["check"] == "digest_mismatch"
    assert check["digest"] == model_digest(FILES)
    assert [f["name"] for f in check["files"]] == ["model.pkl"]
    assert registry.version("fraud", 1) == before  # nothing changed, not even updated_at
    applied = registry.get("/api/v1/audit?event=model_version.stage_changed").get_json()
    assert applied["events"] == []


def error_code_of(body):
    return body["error_code"]


def test_the_files_are_re_checked_when_the_last_approval_applies(
    registry, stored_version, artifact_root, use_policies, as_role
):
    """Under the default policy: the files change between the request and its approval."""
    use_policies(policy_files.load(DEFAULT_POLICIES))
    assert registry.transition("fraud", 1, "Staging")["state"] == "applied"
    request = registry.transition("fraud", 1, "Production")
    assert request["state"] == "pending"
    alice, bob = as_role("approver"), as_role("approver")
    alice.post(f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=200)
    tamper(artifact_root, FILES["MLmodel"], b"flavors: {evil: 1}\n")
    refused = bob.post(
        f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=422
    ).get_json()
    assert refused["details"]["failed_checks"][0]["check"] == "digest_mismatch"
    assert registry.version("fraud", 1)["stage"] == "Staging"
    assert registry.get(f"/api/v1/transition-requests/{request['id']}").get_json()["state"] == (
        "pending"
    )
    # Put back as approved, the same approval goes through.
    tamper(artifact_root, FILES["MLmodel"], FILES["MLmodel"])
    applied = bob.post(f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=200)
    assert applied.get_json()["state"] == "applied"


def test_the_mlflow_layer_is_refused_the_same_way(registry, stored_version, artifact_root):
    tamper(artifact_root, b"weights", b"other")
    refused = registry.post(
        "/api/2.0/mlflow/model-versions/transition-stage",
        {"name": "fraud", "version": "1", "stage": "Staging"},
        expect=403,
    ).get_json()
    assert refused["error_code"] == "PERMISSION_DENIED"
    assert "no longer match its digest" in refused["message"]
    assert registry.version("fraud", 1)["stage"] == "None"


def test_a_tampered_version_can_still_be_taken_out_of_service(
    registry, stored_version, artifact_root
):
    """The check that finds a version's files changed must not keep it serving: archiving
    goes through, and its event says what no longer matched."""
    assert registry.transition("fraud", 1, "Production")["state"] == "applied"
    tamper(artifact_root, b"weights", b"malicious")
    registry.transition("fraud", 1, "Staging", expect=422)  # still serving: refused
    assert registry.transition("fraud", 1, "Archived")["state"] == "applied"
    event = registry.get("/api/v1/audit?event=model_version.stage_changed").get_json()["events"]
    assert event[-1]["data"]["to_stage"] == "Archived"
    assert [f["name"] for f in event[-1]["data"]["digest_mismatch"]] == ["model.pkl"]
