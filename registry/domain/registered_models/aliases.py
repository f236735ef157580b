"""Model aliases: set, move, remove, and the alias rules that govern some of them.

An alias protected by an alias rule (policies' ``aliases:``) may be moved only by the roles
the rule names, and only onto a version in the stage it requires. An alias bound to a stage
follows its version out of that stage: onto the version that replaced it, or away
(:func:`release_stage_bound_aliases`, called when a transition is applied); it never leaves on
one person's word while its version still serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import permissions, policy, readmodels, validation
from registry.domain.errors import NotFound, PermissionDenied, PolicyViolation
from registry.domain.events import EventType, record
from registry.domain.locking import lock_model, touch
from registry.domain.permissions import Action
from registry.domain.policy import AliasRule, PolicySet
from registry.domain.principal import Principal
from registry.domain.readmodels import ModelInfo
from registry.domain.registered_models.models import Precondition, check_precondition
from registry.domain.stages import Stage
from registry.orm import ModelAlias, ModelVersion, RegisteredModel
from registry.orm.base import utcnow


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
    check_precondition(session, model, precondition)
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
    check_precondition(session, model, precondition)
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
