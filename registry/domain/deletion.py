"""Deleting versions and models, and everything that goes with them, visibly.

A deletion removes rows the database cascades away (aliases, tags, transition requests,
comments); this module makes sure each removal that someone may be waiting on is recorded
first: an ``alias_deleted`` event per alias (deploy pipelines following ``@champion`` must
hear of it) and a ``cancelled`` request, with the reason, per pending request.

Neither a version in Staging or Production nor a model that has one can be deleted: taking a
serving version away is a stage change, and stage changes go through governance.

Files in the artifact store belong to the model, not to a version: deleting a version leaves
them (other versions may share them; they can never be replaced) and unseals its path for
new files; deleting the model tombstones them (registry.domain.artifacts).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import artifacts, permissions, readmodels, transitions, validation
from registry.domain.errors import Conflict
from registry.domain.events import EventType, record
from registry.domain.locking import lock_model, lock_version, touch
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.registered_models import Precondition as ModelPrecondition
from registry.domain.stages import Stage
from registry.domain.versions import Precondition as VersionPrecondition
from registry.orm import ModelAlias, ModelVersion, RegisteredModel
from registry.orm.base import utcnow


def delete_version(
    session: Session,
    principal: Principal,
    name: str,
    version: int,
    *,
    precondition: VersionPrecondition = None,
) -> None:
    """Delete a version and the aliases pointing at it. Its number is never handed out again.

    Raises NotFound, PermissionDenied, PreconditionFailed, or Conflict while the version is in
    Staging or Production.
    """
    version = validation.version_number(version)
    permissions.require(principal, Action.MANAGE, name)
    model = lock_model(session, name)
    row = lock_version(session, model, version)
    if precondition is not None:
        precondition(readmodels.version_info(session, row.id))
    if Stage(row.stage).is_active:
        raise Conflict(
            f"Model version {name!r} version {version} is in {row.stage}; archive it before "
            "deleting it.",
            reason="serving",
            stage=row.stage,
        )
    removed = _announce_removals(session, principal, model, [row], "version deleted")
    session.delete(row)
    touch(model)
    session.flush()
    record(
        session,
        EventType.VERSION_DELETED,
        principal,
        model=model.name,
        version=version,
        data={"source": row.source, "stage": row.stage, "aliases_removed": removed},
    )


def delete_model(
    session: Session, principal: Principal, name: str, *, precondition: ModelPrecondition = None
) -> None:
    """Delete a model with all its versions, tags and aliases.

    Raises NotFound, PermissionDenied, PreconditionFailed, or Conflict while any version is in
    Staging or Production.
    """
    permissions.require(principal, Action.MANAGE, name)
    model = lock_model(session, name)
    if precondition is not None:
        precondition(readmodels.model_info(session, model.id))
    rows = list(
        session.execute(
            sa.select(ModelVersion)
            .where(ModelVersion.model_id == model.id)
            .order_by(ModelVersion.version)
            .with_for_update()
        ).scalars()
    )
    active = [v for v in rows if Stage(v.stage).is_active]
    if active:
        listed = ", ".join(f"version {v.version} ({v.stage})" for v in active)
        raise Conflict(
            f"Registered model {name!r} still serves {listed}; archive those versions first.",
            reason="serving",
            active_versions=[{"version": v.version, "stage": v.stage} for v in active],
        )
    _announce_removals(session, principal, model, rows, "model deleted")
    # Its files are detached, not handed down: a model created later under this name
    # starts with none.
    tombstoned = artifacts.tombstone(session, model, utcnow())
    session.delete(model)
    session.flush()
    record(
        session,
        EventType.MODEL_DELETED,
        principal,
        model=name,
        data={"versions_deleted": len(rows), "artifacts_tombstoned": tombstoned},
    )


def _announce_removals(
    session: Session,
    principal: Principal,
    model: RegisteredModel,
    rows: Sequence[ModelVersion],
    reason: str,
) -> list[str]:
    """Record the end of the aliases and pending requests of ``rows``; return the aliases."""
    by_number = {r.version: r for r in rows}
    aliases = session.execute(
        sa.select(ModelAlias.alias, ModelAlias.version)
        .where(ModelAlias.model_id == model.id, ModelAlias.version.in_(list(by_number)))
        .order_by(ModelAlias.alias)
    ).all()
    for alias, version in aliases:
        record(
            session,
            EventType.ALIAS_DELETED,
            principal,
            model=model.name,
            version=version,
            data={"alias": alias, "version": version, "reason": reason},
        )
    transitions.close_pending(session, principal, model.name, rows, reason, utcnow())
    return [alias for alias, _ in aliases]
