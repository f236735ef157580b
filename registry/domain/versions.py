"""Model versions: register, read, list, describe, tag and delete."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import artifacts, manifests, permissions, readmodels, tagging, validation
from registry.domain.errors import InvalidArgument, NotFound
from registry.domain.events import EventType, record
from registry.domain.locking import lock_model, lock_version, lookup_name, touch
from registry.domain.pagination import Page, check_max_results, paginate
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.readmodels import VersionInfo
from registry.domain.registered_models import UNSET
from registry.domain.stages import Stage
from registry.orm import ModelVersion, ModelVersionTag, RegisteredModel
from registry.orm.base import utcnow

Precondition = Callable[[VersionInfo], None] | None


def create_version(
    session: Session,
    principal: Principal,
    name: str,
    *,
    source: str,
    run_id: str | None = None,
    run_link: str | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    digest: str | None = None,
) -> VersionInfo:
    """Register the next version of a model.

    The number is taken from the model's counter under its row lock, so racing registrations
    get consecutive numbers with no gap or duplicate, and a deleted number is never reused.

    A source in Modelgate's artifact store must be in this model's own files and hold some;
    the version records their manifest and digest, and they are sealed. For other sources
    the client may give the ``digest`` (``sha256:<hex>``) of what it registers.
    """
    source = validation.source(source)
    run_id = validation.optional_text(run_id, "run_id", validation.MAX_RUN_ID)
    run_link = validation.optional_text(run_link, "run_link", validation.MAX_RUN_LINK)
    description = validation.description(description)
    tags = _settable(validation.tags(tags or {}))
    digest = manifests.client_digest(digest)
    permissions.require(principal, Action.WRITE, name)
    model = lock_model(session, name)
    place = artifacts.place_of_source(session, model, source, digest)
    model.last_version += 1
    now = utcnow()
    row = ModelVersion(
        model_id=model.id,
        version=model.last_version,
        source=source,
        run_id=run_id,
        run_link=run_link,
        description=description,
        stage=Stage.NONE.value,
        status="READY",
        created_by=principal.id,
        created_at=now,
        updated_at=now,
        digest=place.digest,
        store_model=place.store_model,
        store_path=place.store_path,
        manifest=place.manifest,
        tags=[ModelVersionTag(key=k, value=v) for k, v in tags.items()],
    )
    session.add(row)
    model.updated_at = now
    session.flush()
    record(
        session,
        EventType.VERSION_CREATED,
        principal,
        model=name,
        version=row.version,
        data={
            "source": source,
            "run_id": run_id,
            "description": description,
            "tags": tags,
            "digest": place.digest,
        },
    )
    return readmodels.version_info(session, row.id)


def _settable(tags: dict[str, str]) -> dict[str, str]:
    if manifests.DIGEST_TAG in tags:
        raise InvalidArgument(
            f"The tag {manifests.DIGEST_TAG!r} is Modelgate's record of the version's digest; "
            "it cannot be set (give a digest when registering instead).",
            field="tags",
        )
    return tags


def get_version(session: Session, principal: Principal, name: str, version: int) -> VersionInfo:
    version = validation.version_number(version)
    name = lookup_name(name)
    permissions.require(principal, Action.READ, name)
    stmt = readmodels.select_version_by(session.get_bind().dialect.name, "version")
    row = session.execute(stmt, {"name": name, "version": version}).one_or_none()
    if row is None:
        _raise_missing(session, name, version)
    return readmodels.version_from_row(row)


def get_manifest(session: Session, principal: Principal, name: str, version: int) -> dict[str, Any]:
    """The manifest recorded for a version registered from Modelgate's artifact store: the
    in-toto statement the OpenSSF model-signing library signs over the same files. NotFound
    for other versions (their digest, if any, came from the client)."""
    version = validation.version_number(version)
    name = lookup_name(name)
    permissions.require(principal, Action.READ, name)
    row = session.execute(
        sa.select(ModelVersion.manifest, ModelVersion.digest)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(RegisteredModel.name == name, ModelVersion.version == version)
    ).one_or_none()
    if row is None:
        _raise_missing(session, name, version)
    assert row is not None  # _raise_missing raised otherwise
    if row.manifest is None:
        raise NotFound(
            f"Model version {name!r} version {version} has no manifest: only versions "
            "registered from Modelgate's artifact store have one.",
            missing="manifest",
            digest=row.digest,
        )
    manifest: dict[str, Any] = row.manifest
    return manifest


def _raise_missing(session: Session, name: str, version: int) -> None:
    _model_id(session, name)
    raise NotFound(f"Model version {name!r} version {version} not found.")


def list_versions(
    session: Session,
    principal: Principal,
    name: str,
    *,
    stage: Stage | None = None,
    max_results: int | None = None,
    after: dict[str, Any] | None = None,
) -> Page[VersionInfo]:
    """Versions of one model, newest first, optionally only those in ``stage``."""
    limit = check_max_results(max_results)
    name = lookup_name(name)
    permissions.require(principal, Action.READ, name)
    model_id = _model_id(session, name)
    stmt = readmodels.select_versions(session).where(ModelVersion.model_id == model_id)
    if stage is not None:
        stmt = stmt.where(ModelVersion.stage == stage.value)
    if after is not None:
        if not isinstance(after.get("version"), int):
            raise InvalidArgument("page_token is malformed.", field="page_token")
        stmt = stmt.where(ModelVersion.version < after["version"])
    stmt = stmt.order_by(ModelVersion.version.desc()).limit(limit + 1)
    rows = readmodels.fetch_versions(session, stmt)
    return paginate(rows, limit, lambda v: {"version": v.version})


def latest_versions(
    session: Session, principal: Principal, name: str, stages: Sequence[Stage] | None = None
) -> list[VersionInfo]:
    """The highest version in each of ``stages`` that has one, or in every stage that has
    one (None and Archived included) when ``stages`` is None."""
    name = lookup_name(name)
    permissions.require(principal, Action.READ, name)
    wanted = None if stages is None else [s.value for s in stages]
    found = readmodels.latest_versions(session, [name], wanted)[name]
    if not found:  # only then ask whether the model exists at all
        _model_id(session, name)
    return found


def _model_id(session: Session, name: str) -> int:
    model_id = session.execute(
        sa.select(RegisteredModel.id).where(RegisteredModel.name == name)
    ).scalar_one_or_none()
    if model_id is None:
        raise NotFound(f"Registered model {name!r} not found.")
    return model_id


def update_version(
    session: Session,
    principal: Principal,
    name: str,
    version: int,
    *,
    description: str | None = UNSET,
    precondition: Precondition = None,
) -> VersionInfo:
    version = validation.version_number(version)
    permissions.require(principal, Action.WRITE, name)
    model = lock_model(session, name)
    row = lock_version(session, model, version)
    if precondition is not None:
        precondition(readmodels.version_info(session, row.id))
    if description is not UNSET:
        description = validation.description(description)
        if description != row.description:
            before = row.description
            row.description = description
            row.updated_at = utcnow()
            touch(model)
            session.flush()
            record(
                session,
                EventType.VERSION_UPDATED,
                principal,
                model=name,
                version=version,
                data={"description": {"before": before, "after": description}},
            )
    return readmodels.version_info(session, row.id)


def set_version_tag(
    session: Session,
    principal: Principal,
    name: str,
    version: int,
    key: str,
    value: str,
    *,
    precondition: Precondition = None,
) -> VersionInfo:
    version = validation.version_number(version)
    key = validation.tag_key(key)
    value = validation.tag_value(value)
    _settable({key: value})
    permissions.require(principal, Action.WRITE, name)
    model = lock_model(session, name)
    row = lock_version(session, model, version)
    if precondition is not None:
        precondition(readmodels.version_info(session, row.id))
    owner = {"version_id": row.id}
    before = tagging.upsert(session, ModelVersionTag, owner, key, value, "version")
    row.updated_at = utcnow()
    touch(model)
    session.flush()
    record(
        session,
        EventType.VERSION_TAG_SET,
        principal,
        model=name,
        version=version,
        data={"key": key, "value": value, "previous": before},
    )
    return readmodels.version_info(session, row.id)


def delete_version_tag(
    session: Session,
    principal: Principal,
    name: str,
    version: int,
    key: str,
    *,
    missing_ok: bool = False,
    precondition: Precondition = None,
) -> VersionInfo:
    """Remove a tag. A tag that is not there is NotFound, or (``missing_ok``, as MLflow
    clients expect) a change of nothing."""
    version = validation.version_number(version)
    key = validation.tag_key(key)
    permissions.require(principal, Action.WRITE, name)
    model = lock_model(session, name)
    row = lock_version(session, model, version)
    if precondition is not None:
        precondition(readmodels.version_info(session, row.id))
    previous = tagging.remove(
        session,
        ModelVersionTag,
        {"version_id": row.id},
        key,
        f"Model version {name!r} version {version} has no tag {key!r}.",
        missing_ok=missing_ok,
    )
    if previous is None:
        return readmodels.version_info(session, row.id)
    row.updated_at = utcnow()
    touch(model)
    session.flush()
    record(
        session,
        EventType.VERSION_TAG_DELETED,
        principal,
        model=name,
        version=version,
        data={"key": key, "previous": previous},
    )
    return readmodels.version_info(session, row.id)
