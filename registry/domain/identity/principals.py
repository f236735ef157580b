"""Principals from credentials: a service account's token, or a person an identity provider
vouches for, with the grants their bindings add."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain.identity.grants import ACTIVE, grant_from_dict
from registry.domain.principal import Grant, Principal, Role
from registry.orm import ApiToken, RoleBinding


def bound_grants(session: Session, subjects: Sequence[str]) -> tuple[Grant, ...]:
    """Every grant bound to any of ``subjects`` (a user and their groups, or a service)."""
    if not subjects:
        return ()
    rows = session.execute(
        sa.select(RoleBinding)
        .where(RoleBinding.subject.in_(subjects), RoleBinding.state == ACTIVE)
        .order_by(RoleBinding.id)
    ).scalars()
    return tuple(
        grant_from_dict({"role": r.role, "model_pattern": r.model_pattern, "stages": r.stages})
        for r in rows
    )


def service_principal(session: Session, token: ApiToken) -> Principal:
    own = tuple(grant_from_dict(g) for g in token.grants)
    return Principal(
        subject=token.name,
        kind="service",
        grants=own + bound_grants(session, [f"service:{token.name}"]),
        token_id=token.id,
        owner=token.owner,
    )


def user_principal(
    session: Session, subject: str, groups: Sequence[str], claimed_roles: Sequence[str]
) -> Principal:
    """A person from an identity provider: roles it vouches for apply everywhere; the rest
    comes from bindings on the user and on each of their groups."""
    direct = tuple(
        Grant(Role(r)) for r in sorted(set(claimed_roles)) if r in Role._value2member_map_
    )
    subjects = [f"user:{subject}", *(f"group:{g}" for g in groups)]
    return Principal(
        subject=subject,
        kind="user",
        groups=tuple(groups),
        grants=direct + bound_grants(session, subjects),
    )
