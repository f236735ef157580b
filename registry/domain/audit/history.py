"""Stage history at a moment: who held Staging and Production, replayed from the ledger."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import permissions
from registry.domain.audit.replay import as_ordinary
from registry.domain.errors import NotFound
from registry.domain.events import EventType
from registry.domain.locking import find_model
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.stages import Stage
from registry.orm import AuditEvent
from registry.orm.base import utcnow


@dataclass(frozen=True, slots=True)
class Holder:
    version: int
    since: dt.datetime
    seq: int
    request_id: int | None
    requested_by: str | None
    approved_by: list[str] = field(default_factory=list)
    changed_by: str | None = None
    # The people behind requested_by and approved_by (token owners), as recorded when the
    # request was applied; None for changes recorded before people were.
    requested_by_person: str | None = None
    approved_by_people: list[str] | None = None


@dataclass(frozen=True, slots=True)
class StageHistory:
    name: str
    at: dt.datetime
    stages: dict[str, list[Holder]]


def _lineage(session: Session, name: str) -> set[str]:
    """Every name the model has had (it may have been renamed since)."""
    names = {name}
    renames = session.execute(
        sa.select(AuditEvent.data)
        .where(AuditEvent.event == EventType.MODEL_RENAMED.value)
        .order_by(AuditEvent.seq.desc())
    ).scalars()
    current = name
    for data in renames:
        if data.get("to") == current:
            current = data.get("from")
            names.add(current)
    return names


def stage_history(
    session: Session, principal: Principal, name: str, at: dt.datetime | None = None
) -> StageHistory:
    """Which versions held Staging and Production at ``at`` (default: now), since when,
    through which request and approved by whom, replayed from the ledger itself."""
    permissions.require(principal, Action.READ, name)
    if find_model(session, name) is None:
        raise NotFound(f"Registered model {name!r} not found.")
    at = at or utcnow()
    upto = (
        session.execute(
            sa.select(sa.func.max(AuditEvent.seq)).where(AuditEvent.at <= at)
        ).scalar_one()
        or 0
    )
    names = _lineage(session, name)
    relevant = (
        EventType.MODEL_CREATED.value,
        EventType.MODEL_DELETED.value,
        EventType.VERSION_DELETED.value,
        EventType.STAGE_CHANGED.value,
        EventType.REQUEST_APPLIED.value,
        EventType.REQUEST_CREATED.value,
        EventType.IMPORTED.value,
    )
    holders: dict[int, tuple[str, Holder]] = {}  # version -> (stage, holder)
    requests: dict[int, dict[str, Any]] = {}
    stmt = (
        sa.select(AuditEvent)
        .where(AuditEvent.model.in_(names), AuditEvent.seq <= upto, AuditEvent.event.in_(relevant))
        .order_by(AuditEvent.seq)
    )
    for row in session.execute(stmt).scalars():
        event, data = as_ordinary(row.event, row.data)
        if event in (EventType.MODEL_CREATED.value, EventType.MODEL_DELETED.value):
            holders.clear()  # a model of this name began (again) here
        elif event == EventType.VERSION_DELETED.value:
            holders.pop(row.version or 0, None)
        elif event in (EventType.REQUEST_CREATED.value, EventType.REQUEST_APPLIED.value):
            requests.setdefault(row.data.get("request_id"), {}).update(row.data)
        elif event == EventType.STAGE_CHANGED.value and row.version is not None:
            request = requests.get(row.data.get("request_id"), {})
            holders[row.version] = (
                data.get("to_stage"),
                Holder(
                    version=row.version,
                    since=row.at,
                    seq=row.seq,
                    request_id=row.data.get("request_id"),
                    requested_by=request.get("requested_by"),
                    approved_by=[],
                    changed_by=row.actor,
                ),
            )
    # Approvals are recorded on the "applied" event that follows each stage change.
    stages: dict[str, list[Holder]] = {Stage.PRODUCTION.value: [], Stage.STAGING.value: []}
    for stage, holder in holders.values():
        if stage in stages:
            request = requests.get(holder.request_id, {})
            approved = list(request.get("approved_by") or [])
            people = request.get("approved_by_people")
            stages[stage].append(
                dataclasses.replace(
                    holder,
                    approved_by=approved,
                    requested_by_person=request.get("requested_by_person"),
                    approved_by_people=list(people) if people is not None else None,
                )
            )
    for listed in stages.values():
        listed.sort(key=lambda h: h.version, reverse=True)
    return StageHistory(name, at, stages)
