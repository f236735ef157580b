"""An install with files in the earlier name-keyed layout (<root>/<model name>/<path>): the
server's start-up brings them into the write-once store, once, and records the digests of
versions registered from them."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from registry.domain import registered_models, versions
from registry.domain.principal import system
from registry.extensions import db
from registry.orm import ArtifactFile, AuditEvent, ModelVersion
from registry.serve.startup import upgrade_artifact_store

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
OLD = {"v1/MLmodel": b"flavors: {}\n", "v1/model.pkl": b"weights"}


def digest_of(files: dict[str, bytes]) -> str:
    combined = hashlib.sha256()
    for name in sorted(files, key=lambda n: n.split("/")):
        combined.update(hashlib.sha256(files[name]).digest())
    return "sha256:" + combined.hexdigest()


def events(app, name):
    with app.app_context():
        return db.session.execute(
            sa.select(AuditEvent.actor, AuditEvent.model, AuditEvent.data)
            .where(AuditEvent.event == name)
            .order_by(AuditEvent.seq)
        ).all()


def test_files_of_the_old_layout_are_adopted_once(app, committed, registry, artifact_root):
    with app.app_context():
        registered_models.create_model(db.session, system(), name="fraud")
        versions.create_version(db.session, system(), "fraud", source="s3://placeholder")
        # As the earlier release registered it: a store source, with no digest.
        db.session.execute(sa.update(ModelVersion).values(source="mlflow-artifacts:/fraud/v1"))
        db.session.commit()
        url = db.engine.url.render_as_string(hide_password=False)
    for path, data in OLD.items():
        (artifact_root / "fraud" / path).parent.mkdir(parents=True, exist_ok=True)
        (artifact_root / "fraud" / path).write_bytes(data)
    (artifact_root / "ghost" / "v1").mkdir(parents=True)  # a deleted model's files
    (artifact_root / "ghost" / "v1" / "model.pkl").write_bytes(b"stale")

    upgrade_artifact_store(url, str(artifact_root))

    response = registry.get(f"{ARTIFACTS}/fraud/v1/model.pkl")
    assert response.data == b"weights"
    response.close()
    assert registry.version("fraud", 1)["digest"] == digest_of(
        {p.removeprefix("v1/"): d for p, d in OLD.items()}
    )
    adopted = events(app, "artifact.uploaded")
    assert [(a, m, d["path"]) for a, m, d in adopted] == [
        ("system:upgrade", "fraud", "v1/MLmodel"),
        ("system:upgrade", "fraud", "v1/model.pkl"),
    ]
    (updated,) = events(app, "model_version.updated")
    assert updated.data["digest"]["after"] == registry.version("fraud", 1)["digest"]
    # The old directories are out of the way, the deleted model's set aside, not inherited.
    assert not (artifact_root / "fraud").exists()
    assert not (artifact_root / "ghost").exists()
    assert sorted(p.name.split("-")[0] for p in (artifact_root / "@orphaned").iterdir()) == [
        "fraud",
        "ghost",
    ]
    registry.create_model("ghost")
    assert registry.get(f"{ARTIFACTS}?path=ghost").get_json() == {}
    # Files adopted are write-once like any other.
    swap = registry.call("PUT", f"{ARTIFACTS}/fraud/v1/model.pkl", 409, data=b"other")
    assert swap.get_json()["error_code"] == "RESOURCE_ALREADY_EXISTS"

    upgrade_artifact_store(url, str(artifact_root))  # a restart: nothing more to do
    assert len(events(app, "artifact.uploaded")) == 2
    assert len(events(app, "model_version.updated")) == 1
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count(ArtifactFile.id))).scalar_one() == 2
