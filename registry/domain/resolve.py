"""Resolution of ``models:/`` URIs to one version: the deploy pipelines' hot path.

One indexed query, whatever the form: the permission check needs no database (grants travel
with the principal) and tags and aliases come back in the same row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from registry.domain import permissions, readmodels, validation
from registry.domain.errors import NotFound
from registry.domain.locking import find_model, lookup_name
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.readmodels import VersionInfo
from registry.domain.uris import ModelRef, parse_model_uri


def resolve(session: Session, principal: Principal, uri: str) -> tuple[ModelRef, VersionInfo]:
    """The version ``uri`` names now. The highest version number wins when several versions
    share a stage, as MLflow clients expect. Raises InvalidArgument or NotFound."""
    ref = parse_model_uri(uri)
    return ref, resolve_model(session, principal, ref)


def resolve_model(session: Session, principal: Principal, ref: ModelRef) -> VersionInfo:
    """The version ``ref`` names now, for a caller who must be able to read the model.

    Raises NotFound: for a model that exists but has no such version, alias or stage, the
    error's ``details["missing"]`` says which kind of reference found nothing.
    """
    permissions.require(principal, Action.READ, ref.name)
    return resolve_ref(session, ref)


def version_by_alias(session: Session, principal: Principal, name: str, alias: str) -> VersionInfo:
    """The version ``alias`` points at; ``latest`` (any case) names the highest version."""
    name = lookup_name(name)
    if isinstance(alias, str) and alias.lower() == "latest":
        return resolve_model(session, principal, ModelRef(name, latest=True))
    return resolve_model(session, principal, ModelRef(name, alias=validation.alias(alias)))


def resolve_ref(session: Session, ref: ModelRef) -> VersionInfo:
    params: dict[str, Any] = {"name": ref.name}
    if ref.version is not None:
        kind, missing = "version", f"version {ref.version}"
        params["version"] = ref.version
    elif ref.alias is not None:
        kind, missing = "alias", f"alias {ref.alias!r}"
        params["alias"] = ref.alias
    elif ref.stage is not None:
        kind, missing = "stage", f"version in {ref.stage.value}"
        params["stage"] = ref.stage.value
    else:
        kind, missing = "latest", "version"
    stmt = readmodels.select_version_by(session.get_bind().dialect.name, kind)
    row = session.execute(stmt, params).first()
    if row is not None:
        return readmodels.version_from_row(row)
    # Only a miss pays for the second query that tells a missing model from a missing version.
    if find_model(session, ref.name) is None:
        raise NotFound(f"Registered model {ref.name!r} not found.")
    raise NotFound(f"Registered model {ref.name!r} has no {missing}.", missing=kind)
