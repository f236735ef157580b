"""What one model's import writes: versions, aliases and records of what was imported, each
change recorded as one ``import`` event naming the source, the ordinary event it stands for
and the original times and user."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from registry.domain.events import EventType, record
from registry.domain.imports.source import Outcome, SourceModel, SourceVersion
from registry.domain.policy import PolicySet
from registry.domain.principal import Grant, Principal, Role
from registry.orm import (
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
)
from registry.orm.imports import ImportRecord


def requester(principal: Principal) -> Principal:
    """The importer as it acts under governance: the same identity, a contributor's rights
    only, so its requests need the policy's approvers and its approval never counts."""
    return Principal(
        subject=principal.subject, kind=principal.kind, grants=(Grant(Role.CONTRIBUTOR),)
    )


def original(
    created: dt.datetime | None, updated: dt.datetime | None, user: str | None
) -> dict[str, Any]:
    found = {
        "created_at": _iso(created),
        "updated_at": _iso(updated),
        "user_id": user or None,
    }
    return {key: value for key, value in found.items() if value is not None}


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ImportWriter:
    """What one model's import writes, inside the caller's transaction: versions and aliases
    as the source has them, each change as one ``import`` event, and what was imported."""

    def __init__(
        self,
        session: Session,
        principal: Principal,
        source: str,
        item: SourceModel,
        now: Any,
        policies: PolicySet,
        source_moves: str,
    ) -> None:
        self.session = session
        self.principal = principal
        self.governed = requester(principal)
        self.policies = policies
        self.source_moves = source_moves
        self.source = source
        self.item = item
        self.now = now
        self.outcome = Outcome(item.name)

    def event(self, change: str, number: int | None = None, /, **data: Any) -> None:
        record(
            self.session,
            EventType.IMPORTED,
            self.principal,
            model=self.item.name,
            version=number,
            data={"change": change, "imported_from": self.source, **data},
        )

    def save(
        self, version: int, state: dict[str, Any], existing: ImportRecord | None
    ) -> ImportRecord:
        if existing is None:
            existing = ImportRecord(
                source=self.source,
                model=self.item.name,
                version=version,
                state=state,
                imported_at=self.now,
            )
            self.session.add(existing)
        elif existing.state != state:
            existing.state, existing.imported_at = state, self.now
        return existing

    def note_alias_outside_its_rule(self, alias: str, number: int, stage: str) -> None:
        rule = self.policies.alias_rule(self.item.name, alias)
        if rule is None or rule.require_stage is None or rule.require_stage.value == stage:
            return
        self.outcome.notes.append(
            f"alias {alias!r} names version {number} ({stage}), outside rule {rule.name!r} "
            f"({rule.require_stage.value} only): imported as it is; from now on it moves "
            "only as the rule allows"
        )

    def add_version(self, model: RegisteredModel, item: SourceVersion) -> ImportRecord:
        self.session.add(
            ModelVersion(
                model_id=model.id,
                version=item.version,
                source=item.source,
                run_id=item.run_id,
                run_link=item.run_link,
                description=item.description,
                stage=item.stage,
                exclusive=False,  # the source's stages stand as they are; policies apply later
                status=item.status,
                created_by=item.user_id or None,
                created_at=item.created_at or self.now,
                updated_at=item.updated_at or self.now,
                tags=[ModelVersionTag(key=k, value=v) for k, v in item.tags.items()],
            )
        )
        model.last_version = max(model.last_version, item.version)
        self.event(
            EventType.VERSION_CREATED,
            item.version,
            source=item.source,
            run_id=item.run_id,
            run_link=item.run_link,
            description=item.description,
            tags=item.tags,
            stage=item.stage,
            status=item.status,
            original=original(item.created_at, item.updated_at, item.user_id),
        )
        self.outcome.versions += 1
        return self.save(item.version, item.state(), None)

    def set_alias(
        self, model: RegisteredModel, alias: str, number: int | None, previous: int | None
    ) -> None:
        row = self.session.get(ModelAlias, (model.id, alias))
        if number is None:
            if row is not None:
                self.session.delete(row)
            self.event(EventType.ALIAS_DELETED, previous, alias=alias, version=previous)
        elif row is None:
            self.session.add(
                ModelAlias(model_id=model.id, alias=alias, version=number, updated_at=self.now)
            )
        else:
            row.version, row.updated_at = number, self.now
        if number is not None:
            self.event(
                EventType.ALIAS_SET, number, alias=alias, version=number, previous_version=previous
            )
        self.outcome.aliases += 1

    def conflict(self, message: str) -> None:
        self.outcome.conflicts.append(message)
