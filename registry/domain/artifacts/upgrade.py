"""The upgrade step for versions an earlier release registered from ``mlflow-artifacts:``
sources: record where they point, and their manifest where they are their model's files."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain.artifacts.paths import SCHEME, own_location, store_location
from registry.domain.artifacts.sources import manifest_of
from registry.domain.artifacts.store import UPGRADE
from registry.domain.errors import InvalidArgument
from registry.domain.events import EventType, record
from registry.orm import ModelVersion, RegisteredModel
from registry.orm.artifact import MAX_PATH
from registry.orm.base import utcnow

log = logging.getLogger("modelgate.artifacts")


def record_missing_digests(session: Session) -> list[tuple[str, int]]:
    """Versions an earlier release registered from ``mlflow-artifacts:`` sources: record
    where they point (sealing it), and for those in their own model's files the manifest of
    the files there now (from this moment nothing there can change), with a
    ``model_version.updated`` event saying so. Those without files get no digest (a
    ``require_digest`` gate will hold them back)."""
    found = session.execute(
        sa.select(ModelVersion, RegisteredModel)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(
            sa.func.lower(ModelVersion.source).like(f"{SCHEME}:%"),
            ModelVersion.store_model.is_(None),
        )
        .order_by(RegisteredModel.name, ModelVersion.version)
    ).all()
    done = []
    for row, model in found:
        location = store_location(row.source)
        if location is None or len(location.path) > MAX_PATH:
            continue
        if location.model != model.name:
            row.store_model, row.store_path = location.model, location.path
            continue
        try:
            own = own_location(row.source, location)
            digest, manifest = manifest_of(session, model, own)
        except InvalidArgument as exc:
            log.warning("version %s of %r keeps no digest: %s", row.version, model.name, exc)
            row.store_model, row.store_path = location.model, location.path
            continue
        before = row.digest
        row.digest, row.manifest = digest, manifest
        row.store_model, row.store_path = model.name, own.path
        row.updated_at = utcnow()
        session.flush()
        record(
            session,
            EventType.VERSION_UPDATED,
            UPGRADE,
            model=model.name,
            version=row.version,
            data={
                "digest": {"before": before, "after": digest},
                "reason": "registered before Modelgate recorded digests; recorded from the "
                "files in its store at the upgrade",
            },
        )
        done.append((model.name, row.version))
    return done
