"""The manifest Modelgate records is the one the OpenSSF model-signing library signs.

Files are uploaded to the store and a version registered from them; the same files, as a
deployer would download them, are signed with a local EC key by the real ``model-signing``
package. The statement it signed must be exactly the manifest Modelgate serves, its verifier
must accept the downloaded files, and its own parser must accept Modelgate's manifest as the
manifest of those files.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import json_format
from model_signing import hashing, signing, verifying
from model_signing._signing import signing as payloads

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
# Names whose string order and path order differ (a/b before a.txt), nesting, an empty
# file, a git file (hashed like any other: every byte served counts) and non-ASCII.
FILES = {
    "MLmodel": b"flavors:\n  python_function: {}\n",
    "a.txt": b"x",
    "a/b": b"y",
    "data/model.pkl": bytes(range(256)) * 64,
    "empty": b"",
    ".gitattributes": b"*.pkl binary\n",
    "données/é.json": b"{}",
}


def everything() -> hashing.Config:
    """model-signing's file serialization with nothing ignored, as Modelgate hashes."""
    return hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=False)


@pytest.fixture
def downloaded(tmp_path: Path) -> Path:
    """The files as a deployer has them after downloading the version."""
    root = tmp_path / "download" / "v1"
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, Path]:
    private = ec.generate_private_key(ec.SECP256R1())
    private_path, public_path = tmp_path / "key.pem", tmp_path / "key.pub"
    private_path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


@pytest.fixture
def recorded(registry, artifact_root) -> dict:
    registry.create_model("fraud")
    for name, data in FILES.items():
        registry.call("PUT", f"{ARTIFACTS}/fraud/v1/{name}", 200, data=data)
    version = registry.create_version("fraud", "mlflow-artifacts:/fraud/v1")
    manifest = registry.get("/api/v1/models/fraud/versions/1/manifest").get_json()
    return {"digest": version["digest"], "manifest": manifest}


def signed_statement(signature: Path) -> dict:
    bundle = json.loads(signature.read_text())
    return json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))


def test_a_signature_over_the_files_signs_exactly_the_recorded_manifest(
    recorded, downloaded, key, tmp_path
):
    private, public = key
    signature = tmp_path / "model.sig"
    config = signing.Config().use_elliptic_key_signer(private_key=private)
    config.set_hashing_config(everything()).sign(downloaded, signature)
    verifying.Config().use_elliptic_key_verifier(public_key=public).set_hashing_config(
        everything()
    ).verify(downloaded, signature)  # raises if the files do not match what was signed
    assert signed_statement(signature) == recorded["manifest"]
    root = signed_statement(signature)["subject"][0]["digest"]["sha256"]
    assert recorded["digest"] == f"sha256:{root}"


def test_model_signing_reads_the_recorded_manifest_as_the_files_manifest(recorded, downloaded):
    ours = payloads.dsse_payload_to_manifest(recorded["manifest"])  # checks the root digest
    assert ours == everything().hash(downloaded)


def test_the_default_configuration_gives_the_same_digest_without_git_files(
    registry, artifact_root, downloaded
):
    """`model_signing.hashing.hash(path)` ignores git files; over files without any, the
    model digest is the same (only the serialization block says what was ignored)."""
    (downloaded / ".gitattributes").unlink()
    registry.create_model("churn")
    for name, data in FILES.items():
        if name != ".gitattributes":
            registry.call("PUT", f"{ARTIFACTS}/churn/v1/{name}", 200, data=data)
    version = registry.create_version("churn", "mlflow-artifacts:/churn/v1")
    statement = payloads.Payload(hashing.hash(downloaded)).statement
    default = json.loads(json_format.MessageToJson(statement.pb))
    assert version["digest"] == "sha256:" + default["subject"][0]["digest"]["sha256"]
