"""Registered models: create, read, list, describe, rename and tag (deletion is
:mod:`registry.domain.deletion`, aliases :mod:`registry.domain.registered_models.aliases`).

Every change to a model (or to its versions, elsewhere) starts by locking the model's row
(:mod:`registry.domain.locking`), so changes to one model are serialised and two writers
never both act on a stale view of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.domain import (
    artifacts,
    globs,
    permissions,
    readmodels,
    search,
    tagging,
    validation,
)
from registry.domain.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
)
from registry.domain.events import EventType, record
from registry.domain.locking import lock_model, lookup_name, touch
from registry.domain.pagination import Page
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.readmodels import ModelInfo
from registry.domain.stages import Stage
from registry.orm import ModelVersion, RegisteredModel, RegisteredModelTag
from registry.orm.base import utcnow

UNSET: Any = object()
Precondition = Callable[[ModelInfo], None] | None


def check_precondition(
    session: Session, model: RegisteredModel, precondition: Precondition
) -> None:
    if precondition is not None:
        precondition(readmodels.model_info(session, model.id))


def create_model(
    session: Session,
    principal: Principal,
    *,
    name: str,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> ModelInfo:
    """Register a new model name. Raises AlreadyExists if the name (ignoring case) is taken."""
    name = validation.model_name(name)
    description = validation.description(description)
    tags = validation.tags(tags or {})
    permissions.require(principal, Action.CREATE_MODEL, name, hide=False)
    key = validation.name_key(name)
    existing = session.execute(
        sa.select(RegisteredModel.name).where(RegisteredModel.name_key == key)
    ).scalar_one_or_none()
    if existing is not None:
        raise _exists(name, existing)
    now = utcnow()
    model = RegisteredModel(
        name=name,
        name_key=key,
        description=description,
        created_by=principal.id,
        created_at=now,
        updated_at=now,
        tags=[RegisteredModelTag(key=k, value=v) for k, v in tags.items()],
    )
    # Two creators racing past the check above meet at the unique index; the savepoint keeps
    # the loser's transaction usable so it can answer ALREADY_EXISTS cleanly.
    try:
        with session.begin_nested():
            session.add(model)
    except IntegrityError:
        raise _exists(name, name) from None
    record(
        session,
        EventType.MODEL_CREATED,
        principal,
        model=name,
        data={"description": description, "tags": tags},
    )
    return readmodels.model_info(session, model.id)


def _exists(name: str, existing: str) -> AlreadyExists:
    if existing == name:
        return AlreadyExists(f"Registered model {name!r} already exists.")
    return AlreadyExists(
        f"Registered model {existing!r} already exists; names are unique regardless of case.",
        existing=existing,
    )


def get_model(session: Session, principal: Principal, name: str) -> ModelInfo:
    name = lookup_name(name)
    permissions.require(principal, Action.READ, name)
    row = session.execute(
        readmodels.select_models(session).where(RegisteredModel.name == name)
    ).one_or_none()
    if row is None:
        raise NotFound(f"Registered model {name!r} not found.")
    return readmodels.model_from_row(row)


def list_models(
    session: Session,
    principal: Principal,
    *,
    name_glob: str | None = None,
    tags: Sequence[tuple[str, str]] = (),
    max_results: int | None = None,
    after: dict[str, Any] | None = None,
) -> Page[ModelInfo]:
    """Models the principal may read, by name, filtered by a name glob and exact tag values."""
    where = []
    if name_glob is not None:
        pattern = globs.validate(name_glob, "filter")
        like = globs.to_like(pattern, search.LIKE_ESCAPE)
        where.append(search.Comparison("name", "LIKE", like))
    tag_values = [search.TagComparison(key, "=", value) for key, value in tags]
    return search.search_models(
        session,
        principal,
        search.Query(where=where, tags=tag_values),
        max_results=max_results,
        after=after,
    )


def update_model(
    session: Session,
    principal: Principal,
    name: str,
    *,
    description: str | None = UNSET,
    new_name: str | None = None,
    precondition: Precondition = None,
) -> ModelInfo:
    """Change the description and/or the name in one transaction."""
    if description is not UNSET:
        description = validation.description(description)
        permissions.require(principal, Action.WRITE, name)
    if new_name is not None:
        new_name = validation.model_name(new_name, "new_name")
        permissions.require(principal, Action.MANAGE, name)
        permissions.require(principal, Action.CREATE_MODEL, new_name, hide=False)
    if description is UNSET and new_name is None:
        permissions.require(principal, Action.WRITE, name)
    model = lock_model(session, name)
    check_precondition(session, model, precondition)
    if description is not UNSET and description != model.description:
        before = model.description
        model.description = description
        touch(model)
        record(
            session,
            EventType.MODEL_UPDATED,
            principal,
            model=model.name,
            data={"description": {"before": before, "after": description}},
        )
    if new_name is not None and new_name != model.name:
        _refuse_renaming_what_serves(session, model)
        _rename(session, principal, model, new_name)
    session.flush()
    return readmodels.model_info(session, model.id)


def rename_model(session: Session, principal: Principal, name: str, new_name: str) -> ModelInfo:
    return update_model(session, principal, name, new_name=new_name)


def _refuse_renaming_what_serves(session: Session, model: RegisteredModel) -> None:
    """A rename changes what two names resolve to: models:/OLD/Production stops answering and
    models:/NEW/Production (and @aliases) starts answering with versions approved under the
    old name, all by one admin. So, as for deletion, a model with a version in Staging or
    Production is not renamed: archive those first (which takes the policy's approvals)."""
    serving = session.execute(
        sa.select(ModelVersion.version, ModelVersion.stage)
        .where(
            ModelVersion.model_id == model.id,
            ModelVersion.stage.in_([Stage.STAGING.value, Stage.PRODUCTION.value]),
        )
        .order_by(ModelVersion.version)
    ).all()
    if serving:
        listed = ", ".join(f"version {v} ({stage})" for v, stage in serving)
        raise Conflict(
            f"Registered model {model.name!r} serves {listed}; renaming it would change what "
            "both names resolve to without an approval. Archive those versions first.",
            reason="serving",
            active_versions=[{"version": v, "stage": stage} for v, stage in serving],
        )


def _rename(session: Session, principal: Principal, model: RegisteredModel, new_name: str) -> None:
    key = validation.name_key(new_name)
    clash = session.execute(
        sa.select(RegisteredModel.name).where(
            RegisteredModel.name_key == key, RegisteredModel.id != model.id
        )
    ).scalar_one_or_none()
    if clash is not None:
        raise _exists(new_name, clash)
    old = model.name
    now = utcnow()
    # Files stay with the model (they are keyed by its id); the sources of versions
    # registered from them follow the name, so those versions load the same bytes.
    rewritten = artifacts.follow_rename(session, model, new_name, now)
    model.name, model.name_key = new_name, key
    touch(model, now)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise _exists(new_name, new_name) from None
    record(
        session,
        EventType.MODEL_RENAMED,
        principal,
        model=new_name,
        data={"from": old, "to": new_name, "sources_rewritten": rewritten},
    )


def set_model_tag(
    session: Session,
    principal: Principal,
    name: str,
    key: str,
    value: str,
    *,
    precondition: Precondition = None,
) -> ModelInfo:
    key = validation.tag_key(key)
    value = validation.tag_value(value)
    permissions.require(principal, Action.WRITE, name)
    model = lock_model(session, name)
    check_precondition(session, model, precondition)
    owner = {"model_id": model.id}
    before = tagging.upsert(session, RegisteredModelTag, owner, key, value, "model")
    touch(model)
    session.flush()
    record(
        session,
        EventType.MODEL_TAG_SET,
        principal,
        model=name,
        data={"key": key, "value": value, "previous": before},
    )
    return readmodels.model_info(session, model.id)


def delete_model_tag(
    session: Session,
    principal: Principal,
    name: str,
    key: str,
    *,
    missing_ok: bool = False,
    precondition: Precondition = None,
) -> ModelInfo:
    """Remove a tag. A tag that is not there is NotFound, or (``missing_ok``, as MLflow
    clients expect) a change of nothing."""
    key = validation.tag_key(key)
    permissions.require(principal, Action.WRITE, name)
    model = lock_model(session, name)
    check_precondition(session, model, precondition)
    previous = tagging.remove(
        session,
        RegisteredModelTag,
        {"model_id": model.id},
        key,
        f"Registered model {name!r} has no tag {key!r}.",
        missing_ok=missing_ok,
    )
    if previous is None:
        return readmodels.model_info(session, model.id)
    touch(model)
    session.flush()
    record(
        session,
        EventType.MODEL_TAG_DELETED,
        principal,
        model=name,
        data={"key": key, "previous": previous},
    )
    return readmodels.model_info(session, model.id)
