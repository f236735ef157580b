"""Registered models: create, read, list, describe, rename, delete, tag and alias.

Every change to a model (or to its versions, elsewhere) starts by locking the model's row
(:mod:`registry.domain.locking`), so changes to one model are serialised and two writers
never both act on a stale view of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.domain import (
    artifacts,
    globs,
    permissions,
    policy,
    readmodels,
    search,
    tagging,
    validation,
)
from registry.domain.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    PermissionDenied,
    PolicyViolation,
)
from registry.domain.events import EventType, record
from registry.domain.locking import lock_model, lookup_name, touch
from registry.domain.pagination import Page
from registry.domain.permissions import Action
from registry.domain.policy import AliasRule, PolicySet
from registry.domain.principal import Principal
from registry.domain.readmodels import ModelInfo
from registry.domain.stages import Stage
from registry.orm import ModelAlias, ModelVersion, RegisteredModel, RegisteredModelTag
from registry.orm.base import utcnow

UNSET: Any = object()
Precondition = Callable[[ModelInfo], None] | None


def _check(session: Session, model: RegisteredModel, precondition: Precondition) -> None:
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
    _check(session, model, precondition)
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
    _check(session, model, precondition)
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
    _check(session, model, precondition)
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


def _guard_alias(
    principal: Principal, policies: PolicySet | None, model: str, alias: str
) -> AliasRule | None:
    """The rule protecting the alias, after checking the caller may move it."""
    rule = policies.alias_rule(model, alias) if policies is not None else None
    if rule is not None and not policy.may_move_alias(principal, rule, model):
        roles = ", ".join(sorted(r.value for r in rule.roles or ()))
        raise PermissionDenied(
            f"Alias {alias!r} of {model!r} is protected by rule {rule.name!r}: only {roles} "
            "may set, move or remove it.",
            reason="protected_alias",
            rule=rule.name,
        )
    return rule


def set_alias(
    session: Session,
    principal: Principal,
    name: str,
    alias: str,
    version: int,
    *,
    policies: PolicySet | None = None,
    precondition: Precondition = None,
) -> ModelInfo:
    """Point ``alias`` at ``version``, moving it in the same transaction if it pointed elsewhere.

    An alias protected by an alias rule may be moved only by the roles it names, and only onto
    a version in the stage it requires (PermissionDenied, PolicyViolation otherwise).
    """
    alias = validation.alias(alias)
    version = validation.version_number(version)
    permissions.require(principal, Action.WRITE, name)
    rule = _guard_alias(principal, policies, name, alias)
    model = lock_model(session, name)
    _check(session, model, precondition)
    target = session.execute(
        sa.select(ModelVersion).where(
            ModelVersion.model_id == model.id, ModelVersion.version == version
        )
    ).scalar_one_or_none()
    if target is None:
        raise NotFound(f"Model version {name!r} version {version} not found.")
    if (
        rule is not None
        and rule.require_stage is not None
        and (target.stage != rule.require_stage.value)
    ):
        check = {
            "check": "alias_stage",
            "rule": rule.name,
            "alias": alias,
            "required_stage": rule.require_stage.value,
            "actual": target.stage,
            "message": f"Alias {alias!r} may point only at a version in "
            f"{rule.require_stage.value}; version {version} is in {target.stage}.",
        }
        raise PolicyViolation(check["message"], failed_checks=[check])
    row = session.get(ModelAlias, (model.id, alias))
    previous = row.version if row else None
    now = utcnow()
    if row is None:
        session.add(ModelAlias(model_id=model.id, alias=alias, version=version, updated_at=now))
    elif row.version != version:
        _touch_version(session, model.id, row.version, now)
        row.version, row.updated_at = version, now
    if previous != version:
        target.updated_at = now
        touch(model, now)
        session.flush()
        record(
            session,
            EventType.ALIAS_SET,
            principal,
            model=name,
            version=version,
            data={"alias": alias, "version": version, "previous_version": previous},
        )
    return readmodels.model_info(session, model.id)


def delete_alias(
    session: Session,
    principal: Principal,
    name: str,
    alias: str,
    *,
    policies: PolicySet | None = None,
    missing_ok: bool = False,
    precondition: Precondition = None,
) -> ModelInfo:
    """Remove an alias. An alias that is not there is NotFound, or (``missing_ok``, as MLflow
    clients expect) a change of nothing."""
    alias = validation.alias(alias)
    permissions.require(principal, Action.WRITE, name)
    rule = _guard_alias(principal, policies, name, alias)
    model = lock_model(session, name)
    _check(session, model, precondition)
    row = session.get(ModelAlias, (model.id, alias))
    if row is None and missing_ok:
        return readmodels.model_info(session, model.id)
    if row is None:
        raise NotFound(f"Registered model {name!r} has no alias {alias!r}.")
    if rule is not None and rule.require_stage is not None:
        _refuse_removing_while_serving(session, model, row, rule, rule.require_stage)
    now = utcnow()
    _touch_version(session, model.id, row.version, now)
    session.delete(row)
    touch(model, now)
    session.flush()
    record(
        session,
        EventType.ALIAS_DELETED,
        principal,
        model=name,
        version=row.version,
        data={"alias": alias, "version": row.version},
    )
    return readmodels.model_info(session, model.id)


def _refuse_removing_while_serving(
    session: Session, model: RegisteredModel, row: ModelAlias, rule: AliasRule, stage: Stage
) -> None:
    """An alias bound to a stage, on a version still in it, leaves with the version (a
    transition, with the policy's approvals), never on one person's word: every pipeline
    resolving it would stop, as taking the version out of the stage would stop them."""
    current = session.execute(
        sa.select(ModelVersion.stage).where(
            ModelVersion.model_id == model.id, ModelVersion.version == row.version
        )
    ).scalar_one()
    if current != stage.value:
        return  # it names a version outside its stage (imported, or set before the rule)
    check = {
        "check": "alias_bound_to_stage",
        "rule": rule.name,
        "alias": row.alias,
        "version": row.version,
        "stage": stage.value,
        "message": f"Alias {row.alias!r} follows version {row.version} in {stage.value} "
        f"(rule {rule.name!r}); it leaves when that version leaves {stage.value}, through a "
        "transition request and its approvals, not on its own.",
    }
    raise PolicyViolation(check["message"], failed_checks=[check])


def release_stage_bound_aliases(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    model: RegisteredModel,
    version: int,
    left_stage: Stage,
    *,
    successor: int | None = None,
    request_id: int | None = None,
) -> None:
    """A version left ``left_stage``: its aliases whose rule binds them to that stage move to
    ``successor`` (the version that replaced it there, admitted by its own approvals) or,
    without one, are removed; a protected alias never points at a version outside the stage
    it promises, and pipelines following it keep following what the stage serves."""
    rows = (
        session.execute(
            sa.select(ModelAlias).where(
                ModelAlias.model_id == model.id, ModelAlias.version == version
            )
        )
        .scalars()
        .all()
    )
    for row in rows:
        rule = policies.alias_rule(model.name, row.alias)
        if rule is None or rule.require_stage is not left_stage:
            continue
        if successor is not None:
            row.version, row.updated_at = successor, utcnow()
            session.flush()
            record(
                session,
                EventType.ALIAS_SET,
                principal,
                model=model.name,
                version=successor,
                data={
                    "alias": row.alias,
                    "version": successor,
                    "previous_version": version,
                    "rule": rule.name,
                    "request_id": request_id,
                    "reason": f"version {successor} replaced version {version} in "
                    f"{left_stage.value}",
                },
            )
            continue
        session.delete(row)
        session.flush()
        record(
            session,
            EventType.ALIAS_DELETED,
            principal,
            model=model.name,
            version=version,
            data={
                "alias": row.alias,
                "version": version,
                "rule": rule.name,
                "reason": f"version left {left_stage.value}",
            },
        )


@dataclass(frozen=True, slots=True)
class StrayAlias:
    model: str
    alias: str
    version: int
    stage: str
    rule: str
    required_stage: str


def aliases_outside_their_rules(session: Session, policies: PolicySet) -> list[StrayAlias]:
    """Aliases naming a version outside the stage their rule binds them to: set before the
    rule existed, or imported as the source had them."""
    rows = session.execute(
        sa.select(RegisteredModel.name, ModelAlias.alias, ModelAlias.version, ModelVersion.stage)
        .join(ModelAlias, ModelAlias.model_id == RegisteredModel.id)
        .join(
            ModelVersion,
            (ModelVersion.model_id == ModelAlias.model_id)
            & (ModelVersion.version == ModelAlias.version),
        )
        .order_by(RegisteredModel.name, ModelAlias.alias)
    ).all()
    stray = []
    for name, alias, version, stage in rows:
        rule = policies.alias_rule(name, alias)
        bound = rule.require_stage if rule is not None else None
        if rule is not None and bound is not None and bound.value != stage:
            stray.append(StrayAlias(name, alias, version, stage, rule.name, bound.value))
    return stray


def _touch_version(session: Session, model_id: int, version: int, now: Any) -> None:
    session.execute(
        sa.update(ModelVersion)
        .where(ModelVersion.model_id == model_id, ModelVersion.version == version)
        .values(updated_at=now)
    )
