"""Role bindings: a role granted to a user, a group or a service account, on models matching a
pattern. A binding of a role the policy file governs waits, ``pending`` and granting nothing,
for a second admin (:mod:`registry.domain.identity.four_eyes`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.domain import globs, permissions, validation
from registry.domain.errors import AlreadyExists, Conflict, NotFound
from registry.domain.events import EventType, record
from registry.domain.identity.four_eyes import require_second_admin
from registry.domain.identity.grants import (
    ACTIVE,
    PENDING,
    check_subject,
    grant_to_dict,
    make_grants,
)
from registry.domain.permissions import Action
from registry.domain.policy import TokenRules
from registry.domain.principal import Principal
from registry.orm import ApiToken, RoleBinding
from registry.orm.base import utcnow


@dataclass(frozen=True, slots=True)
class BindingInfo:
    id: int
    subject: str
    role: str
    model_pattern: str
    stages: list[str] | None
    created_at: dt.datetime
    created_by: str
    state: str = ACTIVE  # active, or pending a second admin's approval
    approved_by: str | None = None
    approved_at: dt.datetime | None = None


def _binding_info(row: RoleBinding) -> BindingInfo:
    return BindingInfo(
        row.id,
        row.subject,
        row.role,
        row.model_pattern,
        list(row.stages) if row.stages is not None else None,
        row.created_at,
        row.created_by,
        row.state,
        row.approved_by,
        row.approved_at,
    )


def create_binding(
    session: Session,
    principal: Principal,
    *,
    subject: str,
    role: str,
    model_pattern: str = "*",
    stages: Sequence[str] | None = None,
    rules: TokenRules | None = None,
    now: dt.datetime | None = None,
) -> BindingInfo:
    """Grant ``role`` to ``subject``. A role ``rules`` govern makes the binding ``pending``,
    granting nothing until a second admin approves it (:func:`approve_binding`), as for
    tokens; the operator's CLI binds at once."""
    permissions.require(principal, Action.ADMIN)
    subject = check_subject(subject)
    [grant] = make_grants([role], model_pattern, stages)
    reasons = [
        f"role:{r.value}"
        for r in (rules or TokenRules()).governs([grant.role])
        if principal.kind != "system"
    ]
    row = RoleBinding(
        subject=subject,
        role=grant.role.value,
        model_pattern=grant.model_pattern,
        stages=grant_to_dict(grant)["stages"],
        created_at=now or utcnow(),
        created_by=principal.id,
        created_by_person=principal.person,
        state=PENDING if reasons else ACTIVE,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(
            f"{subject} already holds {grant.role.value} on {grant.model_pattern!r}; delete "
            "that binding to change it."
        ) from None
    record(
        session,
        EventType.BINDING_CREATED,
        principal,
        data={
            "binding_id": row.id,
            "subject": subject,
            "role": row.role,
            "model_pattern": row.model_pattern,
            "stages": row.stages,
            "state": row.state,
            "created_by_person": principal.person,
            "second_admin_needed_for": reasons,
        },
    )
    return _binding_info(row)


def approve_binding(
    session: Session, principal: Principal, binding_id: int, now: dt.datetime | None = None
) -> BindingInfo:
    """A second admin lets a pending role binding grant its role.

    The approver must be an admin other than the person who made the binding and than the
    person it grants the role to (a user subject, the owners of a service account's tokens,
    a member of a group subject, as far as the approver's own sign-in says)."""
    permissions.require(principal, Action.ADMIN)
    binding_id = validation.row_id(binding_id, f"Role binding {binding_id} not found.")
    row = session.get(RoleBinding, binding_id, with_for_update=True)
    if row is None:
        raise NotFound(f"Role binding {binding_id} not found.")
    if row.state != PENDING:
        raise Conflict(
            f"Role binding {binding_id} is {row.state}, not awaiting approval.", state=row.state
        )
    require_second_admin(
        principal,
        f"role binding {binding_id}",
        {row.created_by_person, *_persons_of(session, principal, row.subject)},
    )
    row.state, row.approved_by, row.approved_at = ACTIVE, principal.id, now or utcnow()
    session.flush()
    record(
        session,
        EventType.BINDING_APPROVED,
        principal,
        data={
            "binding_id": row.id,
            "subject": row.subject,
            "role": row.role,
            "model_pattern": row.model_pattern,
            "stages": row.stages,
            "created_by": row.created_by,
            "created_by_person": row.created_by_person,
            "approved_by_person": principal.person,
        },
    )
    return _binding_info(row)


def _persons_of(session: Session, approver: Principal, subject: str) -> set[str]:
    """The people a binding on ``subject`` empowers, as far as Modelgate can tell."""
    kind, _, name = subject.partition(":")
    if kind == "user":
        return {subject}
    if kind == "service":
        return set(
            session.execute(
                sa.select(ApiToken.owner).where(
                    ApiToken.name == name, ApiToken.revoked_at.is_(None)
                )
            ).scalars()
        )
    if kind == "group" and name in approver.groups:
        return {approver.person}
    return set()


def list_bindings(
    session: Session, principal: Principal, *, subject: str | None = None, model: str | None = None
) -> list[BindingInfo]:
    permissions.require(principal, Action.ADMIN)
    stmt = sa.select(RoleBinding).order_by(RoleBinding.id)
    if subject is not None:
        stmt = stmt.where(RoleBinding.subject == subject)
    rows = [_binding_info(r) for r in session.execute(stmt).scalars()]
    if model is not None:
        rows = [r for r in rows if globs.matches(r.model_pattern, model)]
    return rows


def delete_binding(session: Session, principal: Principal, binding_id: int) -> None:
    permissions.require(principal, Action.ADMIN)
    binding_id = validation.row_id(binding_id, f"Role binding {binding_id} not found.")
    row = session.get(RoleBinding, binding_id)
    if row is None:
        raise NotFound(f"Role binding {binding_id} not found.")
    info = _binding_info(row)
    session.delete(row)
    session.flush()
    record(
        session,
        EventType.BINDING_DELETED,
        principal,
        data={
            "binding_id": info.id,
            "subject": info.subject,
            "role": info.role,
            "model_pattern": info.model_pattern,
            "stages": info.stages,
        },
    )
