"""Resolution of ``models:/`` URIs to one version: the deploy pipelines' hot path.

One indexed query, whatever the form: the permission check needs no database (grants travel
with the principal) and tags and aliases come back in the same row.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.domain import permissions, readmodels
from registry.domain.errors import NotFound
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.readmodels import VersionInfo
from registry.domain.uris import ModelRef, parse_model_uri
from registry.orm import ModelAlias, ModelVersion, RegisteredModel


def resolve(session: Session, principal: Principal, uri: str) -> tuple[ModelRef, VersionInfo]:
    """The version ``uri`` names now. The highest version number wins when several versions
    share a stage, as MLflow clients expect. Raises InvalidArgument or NotFound."""
    ref = parse_model_uri(uri)
    permissions.require(principal, Action.READ, ref.name)
    return ref, resolve_ref(session, ref)


def resolve_ref(session: Session, ref: ModelRef) -> VersionInfo:
    stmt = readmodels.select_versions(session).where(RegisteredModel.name == ref.name)
    if ref.version is not None:
        stmt = stmt.where(ModelVersion.version == ref.version)
        missing = f"version {ref.version}"
    elif ref.alias is not None:
        stmt = stmt.join(
            ModelAlias,
            (ModelAlias.model_id == ModelVersion.model_id)
            & (ModelAlias.version == ModelVersion.version),
        ).where(ModelAlias.alias == ref.alias)
        missing = f"alias {ref.alias!r}"
    elif ref.stage is not None:
        stmt = stmt.where(ModelVersion.stage == ref.stage.value)
        missing = f"a version in {ref.stage.value}"
        stmt = stmt.order_by(ModelVersion.version.desc()).limit(1)
    else:
        missing = "any version"
        stmt = stmt.order_by(ModelVersion.version.desc()).limit(1)
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound(f"Registered model {ref.name!r} has no {missing}, or does not exist.")
    return readmodels.version_from_row(row)
