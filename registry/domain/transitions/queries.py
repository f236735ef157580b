"""Reading transition requests: one by id, a page of them, and counts awaiting a decision.

Each request read carries the actions the caller may take on it
(:func:`registry.domain.transitions.actions.available_actions`); a request on a model the
caller may not read is answered as missing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import permissions, search, validation
from registry.domain.errors import InvalidArgument, NotFound
from registry.domain.pagination import Page, check_max_results, paginate
from registry.domain.permissions import Action
from registry.domain.policy import PolicySet
from registry.domain.principal import Principal
from registry.domain.transitions.actions import available_actions
from registry.domain.transitions.info import TransitionInfo, to_info
from registry.domain.transitions.states import STATES, RequestState
from registry.orm import Approval, ModelVersion, RegisteredModel, TransitionRequest
from registry.orm.base import utcnow


def get_request(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    request_id: int,
    now: dt.datetime | None = None,
) -> TransitionInfo:
    now = now or utcnow()
    request_id = validation.row_id(request_id, f"Transition request {request_id} not found.")
    page = _select(
        session,
        principal,
        policies,
        now,
        lambda stmt: stmt.where(TransitionRequest.id == request_id),
        limit=1,
    )
    if not page:
        raise NotFound(f"Transition request {request_id} not found.")
    return page[0]


def list_requests(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    *,
    state: str | None = None,
    model: str | None = None,
    version: int | None = None,
    max_results: int | None = None,
    after: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Page[TransitionInfo]:
    """Requests the caller may see, newest first, by state, model and version."""
    now = now or utcnow()
    limit = check_max_results(max_results)
    if state is not None and state not in STATES:
        raise InvalidArgument(f"state must be one of {', '.join(STATES)}.", field="state")
    if version is not None:
        version = validation.version_number(version)
    if after is not None and not isinstance(after.get("id"), int):
        raise InvalidArgument("page_token is malformed.", field="page_token")
    if model is not None and not permissions.can(principal, Action.READ, model):
        return Page([], None)

    def narrow(stmt: sa.Select[Any]) -> sa.Select[Any]:
        if state == RequestState.PENDING:
            stmt = stmt.where(awaiting(now))
        elif state == RequestState.EXPIRED:
            stmt = stmt.where(
                sa.or_(
                    TransitionRequest.state == RequestState.EXPIRED,
                    sa.and_(
                        TransitionRequest.state == RequestState.PENDING,
                        TransitionRequest.expires_at <= now,
                    ),
                )
            )
        elif state is not None:
            stmt = stmt.where(TransitionRequest.state == state)
        if model is not None:
            stmt = stmt.where(RegisteredModel.name == model)
        if version is not None:
            stmt = stmt.where(ModelVersion.version == version)
        stmt = stmt.where(search.readable(principal))
        if after is not None:
            stmt = stmt.where(TransitionRequest.id < after["id"])
        return stmt

    rows = _select(session, principal, policies, now, narrow, limit=limit + 1)
    return paginate(rows, limit, lambda r: {"id": r.id})


def awaiting(now: dt.datetime) -> Any:
    """Pending and not yet past its expiry (the sweep may not have recorded it yet)."""
    return sa.and_(
        TransitionRequest.state == RequestState.PENDING,
        sa.or_(TransitionRequest.expires_at.is_(None), TransitionRequest.expires_at > now),
    )


def _select(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    now: dt.datetime,
    narrow: Any,
    limit: int,
) -> list[TransitionInfo]:
    stmt = (
        sa.select(TransitionRequest, RegisteredModel.name, ModelVersion.version)
        .join(RegisteredModel, RegisteredModel.id == TransitionRequest.model_id)
        .join(ModelVersion, ModelVersion.id == TransitionRequest.version_id)
        .order_by(TransitionRequest.id.desc())
        .limit(limit)
    )
    rows = session.execute(narrow(stmt)).all()
    if not rows:
        return []
    ids = [r[0].id for r in rows]
    approvals: dict[int, list[Approval]] = {}
    for a in session.execute(
        sa.select(Approval).where(Approval.request_id.in_(ids)).order_by(Approval.id)
    ).scalars():
        approvals.setdefault(a.request_id, []).append(a)
    result = []
    for req, model_name, version in rows:
        if not permissions.can(principal, Action.READ, model_name):
            continue
        info = to_info(req, model_name, version, now, approvals.get(req.id, []))
        actions = available_actions(principal, policies, info)
        result.append(dataclasses.replace(info, available_actions=actions))
    return result


def pending_counts(
    session: Session, principal: Principal, names: Sequence[str], now: dt.datetime | None = None
) -> dict[str, int]:
    """How many requests await a decision on each of the named models the caller may read."""
    now = now or utcnow()
    visible = [n for n in names if permissions.can(principal, Action.READ, n)]
    if not visible:
        return {}
    rows = session.execute(
        sa.select(RegisteredModel.name, sa.func.count(TransitionRequest.id))
        .join(TransitionRequest, TransitionRequest.model_id == RegisteredModel.id)
        .where(RegisteredModel.name.in_(visible), awaiting(now))
        .group_by(RegisteredModel.name)
    ).all()
    return {name: count for name, count in rows}
