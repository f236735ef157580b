"""Versions' sources in the store: where a new version's source is (and its manifest, from
the rows), the sources that follow a rename, the files a deleted model leaves behind, and
the ``artifact.uploaded`` event of a file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import manifests
from registry.domain.artifacts.paths import (
    Location,
    own_location,
    resource_name,
    source_uri,
    store_location,
    under,
)
from registry.domain.errors import InvalidArgument
from registry.domain.events import EventType, record
from registry.domain.locking import find_model
from registry.domain.principal import Principal
from registry.orm import ArtifactFile, ModelVersion, RegisteredModel
from registry.orm.artifact import MAX_PATH


@dataclass(frozen=True, slots=True)
class SourcePlace:
    """What a version records about where its source is in the store."""

    store_model: str | None = None
    store_path: str | None = None
    digest: str | None = None
    manifest: dict[str, Any] | None = None


def place_of_source(
    session: Session, model: RegisteredModel, source: str, digest: str | None
) -> SourcePlace:
    """Where a new version of ``model`` (locked) registered from ``source`` is in the store.

    - In the model's own files: they must exist; the manifest and digest are computed from
      their rows (a client's ``digest`` is refused), and the place is sealed.
    - In another registered model's files: refused. Files belong to the model they were
      uploaded to; a version of A serving B's could be changed by B's writers.
    - Under a name no model holds (a tracking server's ``<experiment>/<run>``, say): taken as
      given, with the client's digest if any, and sealed by name, so that a model created
      later under that name cannot fill it after the version was approved.
    """
    location = store_location(source)
    if location is None:
        return SourcePlace(digest=digest)
    if location.model == model.name:
        if digest is not None:
            raise InvalidArgument(
                "digest is for sources outside Modelgate's store; for files in it Modelgate "
                "computes the digest itself.",
                field="digest",
            )
        own = own_location(source, location)
        computed, manifest = manifest_of(session, model, own)
        return SourcePlace(model.name, own.path, computed, manifest)
    if find_model(session, location.model) is not None:
        raise InvalidArgument(
            f"Source {source!r} is in the files of model {location.model!r}; a version of "
            f"{model.name!r} may only be registered from its own: "
            f"{source_uri(model.name, '<path>')}.",
            field="source",
        )
    if len(location.path) > MAX_PATH:  # no upload can reach it: nothing to seal
        return SourcePlace(digest=digest)
    return SourcePlace(location.model, location.path, digest)


def files_at(session: Session, model_id: int, base: str) -> list[ArtifactFile]:
    return list(
        session.execute(
            sa.select(ArtifactFile)
            .where(ArtifactFile.model_id == model_id, under(ArtifactFile.path, base))
            .order_by(ArtifactFile.path)
        ).scalars()
    )


def manifest_of(
    session: Session, model: RegisteredModel, location: Location
) -> tuple[str, dict[str, Any]]:
    """The digest and manifest of ``model``'s files at ``location``, from their rows. Refuses
    an empty place: a version pointing at nothing could be filled after its approval."""
    rows = files_at(session, model.id, location.path)
    if not rows:
        raise InvalidArgument(
            f"Modelgate's store holds no files at {location.uri!r}; upload them first.",
            field="source",
        )
    subject = location.path.rsplit("/", 1)[-1]
    statement = manifests.statement(
        subject, [(resource_name(r.path, location.path), r.sha256) for r in rows]
    )
    return manifests.statement_digest(statement), statement


def follow_rename(
    session: Session, model: RegisteredModel, new_name: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """Rewrite the sources of the model's versions registered from its own files to its new
    name, so they keep loading the same bytes; what changed, for the rename's event."""
    rewritten = []
    rows = session.execute(
        sa.select(ModelVersion)
        .where(ModelVersion.model_id == model.id, ModelVersion.store_model == model.name)
        .order_by(ModelVersion.version)
    ).scalars()
    for row in rows:
        assert row.store_path is not None  # set with store_model
        new_source = source_uri(new_name, row.store_path)
        rewritten.append({"version": row.version, "from": row.source, "to": new_source})
        row.source, row.store_model, row.updated_at = new_source, new_name, now
    return rewritten


def tombstone(session: Session, model: RegisteredModel, now: dt.datetime) -> int:
    """Detach a model's files before it is deleted: kept, with its name and the time, for
    forensics; reachable by nobody, and never by a later model of the same name."""
    result = session.execute(
        sa.update(ArtifactFile)
        .where(ArtifactFile.model_id == model.id)
        .values(model_id=None, deleted_at=now, deleted_model=model.name)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def record_file(
    session: Session, principal: Principal, model: str, row: ArtifactFile, **extra: Any
) -> None:
    record(
        session,
        EventType.ARTIFACT_UPLOADED,
        principal,
        model=model,
        data={
            "path": row.path,
            "uri": source_uri(model, row.path),
            "size": row.size,
            "sha256": row.sha256,
            **extra,
        },
    )
