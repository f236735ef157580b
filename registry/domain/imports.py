"""Importing another registry's models: numbers, stages, aliases and tags kept, then governed.

The first import of a model is not a sequence of ordinary changes. Versions keep their
numbers (gaps included), and stages and aliases are set as the source has them, without
transition requests or approvals: the source's history is what it is (migration day is the
trust point), and policies apply from then on. Each change is recorded as one ``import``
event naming the source, the equivalent ordinary event (``change``) and the original times
and user, so the ledger says plainly what came from elsewhere.

From then on (``sync``) the source is no authority over what serves. New versions, tags and
descriptions come over as before, but a stage moved at the source becomes a transition
request here, filed under the policy in force by a principal that may approve nothing
(``system:import`` as a contributor), and an alias moved there is moved here only as the
alias rules let any contributor move it; otherwise (or with ``source_moves="skip"``) the
move is reported and held back. A model that appears at the source after the first run
comes in the same way: its versions in None, their stages as requests. Whoever still writes
to the old registry therefore moves nothing that the approvals here would not.

What was imported is remembered per source, model and version (``ImportRecord``). Each field
is then judged three ways: as last imported (base), as the source has it now (theirs) and as
Modelgate has it now (ours). Only the source changed: it is brought over (with ``sync``).
Both changed, differently: a conflict, reported and never overwritten. The record keeps the
base of a conflicting field, so the conflict is reported again until someone resolves it.

Nothing here commits: the caller commits each model's changes and events together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import registered_models, tagging, transitions, validation
from registry.domain.errors import Conflict, DomainError, InvalidArgument
from registry.domain.events import EventType, record
from registry.domain.locking import touch
from registry.domain.policy import PolicySet
from registry.domain.principal import Grant, Principal, Role
from registry.domain.stages import Stage
from registry.orm import (
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)
from registry.orm.base import utcnow
from registry.orm.imports import MODEL_ITSELF, ImportRecord

STATUSES = frozenset({"READY", "PENDING_REGISTRATION", "FAILED_REGISTRATION"})
SOURCE_MOVES = ("request", "skip")  # what a stage or alias moved at the source becomes


@dataclass(frozen=True, slots=True)
class SourceVersion:
    """One version as the source holds it."""

    version: int
    source: str
    run_id: str | None = None
    run_link: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    stage: str = Stage.NONE.value
    status: str = "READY"
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    user_id: str | None = None

    def state(self) -> dict[str, Any]:
        """The fields compared between runs (times and users are history, not state)."""
        return {
            "source": self.source,
            "run_id": self.run_id,
            "run_link": self.run_link,
            "status": self.status,
            "description": self.description,
            "stage": self.stage,
            "tags": dict(self.tags),
        }


@dataclass(frozen=True, slots=True)
class SourceModel:
    """One registered model as the source holds it, with every version it still has."""

    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: tuple[SourceVersion, ...] = ()
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    user_id: str | None = None

    def state(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
        }


@dataclass(slots=True)
class Outcome:
    """What importing one model did (or, in a dry run, would do)."""

    model: str
    # created | updated | unchanged | skipped | held | conflict | failed
    action: str = "unchanged"
    versions: int = 0  # versions created
    stages: int = 0  # stage changes made (as they are, or by a policy needing no approval)
    requests: int = 0  # transition requests filed for moves at the source, now pending
    aliases: int = 0  # aliases set, moved or removed
    tags: int = 0  # tags set or removed
    descriptions: int = 0
    conflicts: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # moves at the source not made here
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def changes(self) -> int:
        return (
            self.versions
            + self.stages
            + self.requests
            + self.aliases
            + self.tags
            + self.descriptions
        )


# --------------------------------------------------------------------------- validation


def check_version(item: SourceVersion) -> SourceVersion:
    """The version with its fields validated as Modelgate's own API would (InvalidArgument)."""
    tags = validation.tags(item.tags)
    status = item.status if item.status in STATUSES else None
    if status is None:
        raise InvalidArgument(f"Version {item.version} has an unknown status {item.status!r}.")
    return SourceVersion(
        version=validation.version_number(item.version),
        source=validation.source(item.source),
        run_id=validation.optional_text(item.run_id, "run_id", validation.MAX_RUN_ID),
        run_link=validation.optional_text(item.run_link, "run_link", validation.MAX_RUN_LINK),
        description=validation.description(item.description),
        tags=tags,
        stage=Stage.parse(item.stage).value,
        status=status,
        created_at=item.created_at,
        updated_at=item.updated_at,
        user_id=item.user_id,
    )


def check_model(item: SourceModel) -> SourceModel:
    """The model with every field validated; InvalidArgument names the first bad one."""
    name = validation.model_name(item.name)
    versions = tuple(sorted((check_version(v) for v in item.versions), key=lambda v: v.version))
    numbers = {v.version for v in versions}
    if len(numbers) != len(versions):
        raise InvalidArgument(f"The source lists a version of {name!r} twice.")
    aliases = {validation.alias(a): validation.version_number(v) for a, v in item.aliases.items()}
    for alias, number in aliases.items():
        if number not in numbers:
            raise InvalidArgument(
                f"Alias {alias!r} points at version {number}, which the source does not list."
            )
    return SourceModel(
        name=name,
        description=validation.description(item.description),
        tags=validation.tags(item.tags),
        aliases=aliases,
        versions=versions,
        created_at=item.created_at,
        updated_at=item.updated_at,
        user_id=item.user_id,
    )


# --------------------------------------------------------------------------- the import


def requester(principal: Principal) -> Principal:
    """The importer as it acts under governance: the same identity, a contributor's rights
    only, so its requests need the policy's approvers and its approval never counts."""
    return Principal(
        subject=principal.subject, kind=principal.kind, grants=(Grant(Role.CONTRIBUTOR),)
    )


class _Importer:
    """One model's import, inside the caller's transaction."""

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

    # -- first import -----------------------------------------------------------------

    def create(self, *, governed: bool = False) -> None:
        """The model as the source has it; ``governed``: its versions in None and without
        aliases, then its stages and aliases brought over as a sync would (requests, and the
        alias rules), since this is no longer the trust point of a first import."""
        item = self.item
        model = RegisteredModel(
            name=item.name,
            name_key=validation.name_key(item.name),
            description=item.description,
            created_by=item.user_id or None,
            created_at=item.created_at or self.now,
            updated_at=item.updated_at or self.now,
            # Governed, its versions come in one by one as new ones (add_version counts them).
            last_version=0 if governed else max((v.version for v in item.versions), default=0),
            tags=[RegisteredModelTag(key=k, value=v) for k, v in item.tags.items()],
        )
        self.session.add(model)
        self.session.flush()
        self.event(
            EventType.MODEL_CREATED,
            description=item.description,
            tags=item.tags,
            original=_original(item.created_at, item.updated_at, item.user_id),
        )
        if governed:
            # Its versions are all new since the trust point: sync takes them from here.
            base = self.save(MODEL_ITSELF, {**item.state(), "aliases": {}}, None)
            self.session.flush()
            self.sync(model, {MODEL_ITSELF: base})
            self.outcome.action = (
                "conflict" if self.outcome.conflicts else "held" if self.outcome.held else "created"
            )
            return
        for version in item.versions:
            self.add_version(model, version)
        self.session.flush()
        stages = {v.version: v.stage for v in item.versions}
        for alias, number in sorted(item.aliases.items()):
            self.set_alias(model, alias, number, None)
            self.note_alias_outside_its_rule(alias, number, stages[number])
        self.save(MODEL_ITSELF, item.state(), None)
        self.outcome.action = "created"

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
            original=_original(item.created_at, item.updated_at, item.user_id),
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

    # -- later runs -------------------------------------------------------------------

    def sync(self, model: RegisteredModel | None, records: dict[int, ImportRecord]) -> None:
        """Bring over what changed at the source since ``records`` were written."""
        item = self.item
        base_model = records[MODEL_ITSELF]
        if model is None:
            if base_model.state != item.state() or _versions_changed(item, records):
                self.conflict(
                    "the model was deleted or renamed in Modelgate since it was imported, "
                    "and has changed at the source"
                )
            return
        ours = {v.version: v for v in _local_versions(self.session, model.id)}
        for version in item.versions:
            if version.version in records:
                self.sync_version(model, version, records[version.version], ours)
            elif version.version in ours:
                self.conflict(
                    f"version {version.version} is new at the source, but Modelgate has a "
                    f"version {version.version} of its own"
                )
            elif version.version <= model.last_version:  # numbers are never handed out twice
                self.conflict(
                    f"version {version.version} is new at the source, but Modelgate already "
                    "used that number (for a version since deleted)"
                )
            else:
                self.add_new_version(model, version, ours)
        self.session.flush()
        listed = {v.version for v in item.versions}
        for number in sorted(set(records) - listed - {MODEL_ITSELF}):
            # Forgotten, so later runs do not report the model as changed again and again.
            self.session.delete(records[number])
            self.outcome.notes.append(
                f"version {number} is gone from the source; Modelgate keeps it, no longer synced"
            )
        self.sync_model(model, base_model)

    def add_new_version(
        self, model: RegisteredModel, item: SourceVersion, ours: dict[int, ModelVersion]
    ) -> None:
        """A version registered at the source since the last run arrives in None; the stage
        it holds there is a move like any other (a request, or held back), never a way in."""
        record = self.add_version(model, dataclasses.replace(item, stage=Stage.NONE.value))
        self.session.flush()
        ours[item.version] = self.session.execute(
            sa.select(ModelVersion).where(
                ModelVersion.model_id == model.id, ModelVersion.version == item.version
            )
        ).scalar_one()
        self.sync_version(model, item, record, ours)

    def sync_version(
        self,
        model: RegisteredModel,
        item: SourceVersion,
        base_record: ImportRecord,
        ours_rows: dict[int, ModelVersion],
    ) -> None:
        base, theirs = base_record.state, item.state()
        if base == theirs:
            return
        row = ours_rows.get(item.version)
        label = f"version {item.version}"
        if row is None:
            self.conflict(f"{label} changed at the source but was deleted in Modelgate")
            return
        kept = dict(theirs)
        for name in ("source", "run_id", "run_link", "status"):
            if base.get(name) != theirs[name] and getattr(row, name) != theirs[name]:
                self.conflict(f"{label}: its {name} changed at the source; Modelgate keeps it")
                kept[name] = base.get(name)
        ours_tags = {t.key: t.value for t in row.tags}
        kept["tags"] = self.merge_tags(
            label, base.get("tags", {}), theirs["tags"], ours_tags, model, row
        )
        description = _merge(base.get("description"), theirs["description"], row.description)
        if description == "apply":
            self.event(
                EventType.VERSION_UPDATED,
                item.version,
                description={"before": row.description, "after": item.description},
            )
            row.description = item.description
            self.outcome.descriptions += 1
        elif description == "conflict":
            self.conflict(f"{label}: the description changed on both sides")
            kept["description"] = base.get("description")
        stage = _merge(base.get("stage"), theirs["stage"], row.stage)
        if stage == "apply" and not self.request_move(model, row, item):
            kept["stage"] = base.get("stage")  # held back: reported again until settled
        elif stage == "conflict":
            self.conflict(
                f"{label}: the stage moved on both sides (source: {base.get('stage')} -> "
                f"{item.stage}; Modelgate: {row.stage})"
            )
            kept["stage"] = base.get("stage")
        if kept != base:
            row.updated_at = self.now
            touch(model, self.now)
        self.save(item.version, kept, base_record)

    def request_move(self, model: RegisteredModel, row: ModelVersion, item: SourceVersion) -> bool:
        """A stage moved at the source: file the same move here as a transition request
        under the policy, and say what became of it. False when it was held back (skipped,
        or refused by the policy: a gate, a freeze, a move no policy allows)."""
        label = f"version {item.version}: moved to {item.stage} at the source"
        if self.source_moves == "skip":
            self.outcome.held.append(f"{label}; skipped (--source-moves skip)")
            return False
        comment = (
            f"Moved to {item.stage} at {self.source}; filed by `modelgate import mlflow "
            "--sync`, which brings no stage over without this registry's approvals."
        )
        self.session.flush()
        try:
            with self.session.begin_nested():
                filed = transitions.request_transition(
                    self.session,
                    self.governed,
                    self.policies,
                    model.name,
                    row.version,
                    to_stage=item.stage,
                    comment=comment,
                    now=self.now,
                )
        except Conflict as exc:
            pending = exc.details.get("request_id")
            if pending is None:
                self.outcome.held.append(f"{label}; not requested here: {exc.message}")
                return False
            self.outcome.notes.append(f"{label}; request {pending} for it is already pending")
            return True
        except DomainError as exc:
            self.outcome.held.append(f"{label}; not requested here: {exc.message}")
            return False
        if filed.state == transitions.RequestState.APPLIED:
            self.outcome.stages += 1
            self.outcome.notes.append(
                f"{label}; request {filed.id} applied at once (policy {filed.policy!r} "
                "needs no approval)"
            )
        else:
            self.outcome.requests += 1
            self.outcome.notes.append(
                f"{label}; request {filed.id} filed ({filed.state}, "
                f"{filed.required_approvals} approvals needed)"
            )
        return True

    def move_alias(self, model: RegisteredModel, alias: str, now: int | None) -> bool:
        """An alias moved (or removed) at the source: the same here only as the alias rules
        let any contributor do it (a free alias); otherwise held back, said why."""
        label = (
            f"alias {alias!r} moved to version {now} at the source"
            if now is not None
            else f"alias {alias!r} removed at the source"
        )
        if self.source_moves == "skip":
            self.outcome.held.append(f"{label}; skipped (--source-moves skip)")
            return False
        self.session.flush()
        try:
            with self.session.begin_nested():
                if now is None:
                    registered_models.delete_alias(
                        self.session, self.governed, model.name, alias, policies=self.policies
                    )
                else:
                    registered_models.set_alias(
                        self.session, self.governed, model.name, alias, now, policies=self.policies
                    )
        except DomainError as exc:
            self.outcome.held.append(f"{label}; not moved here: {exc.message}")
            return False
        self.outcome.aliases += 1
        return True

    def merge_tags(
        self,
        label: str,
        base: dict[str, str],
        theirs: dict[str, str],
        ours: dict[str, str],
        model: RegisteredModel,
        row: ModelVersion | None,
    ) -> dict[str, str]:
        """Bring over tag edits; returns the tags to remember (conflicting keys at base)."""
        kept = dict(theirs)
        table, owner = (
            (RegisteredModelTag, {"model_id": model.id})
            if row is None
            else (ModelVersionTag, {"version_id": row.id})
        )
        version = None if row is None else row.version
        kind = "model" if row is None else "model_version"
        for key in sorted(set(base) | set(theirs)):
            verdict = _merge(base.get(key), theirs.get(key), ours.get(key))
            if verdict == "conflict":
                self.conflict(f"{label}: tag {key!r} changed on both sides")
                if key in base:
                    kept[key] = base[key]
                else:
                    kept.pop(key, None)
            elif verdict == "apply":
                if key in theirs:
                    tagging.upsert(self.session, table, owner, key, theirs[key], kind)
                    self.event(
                        f"{kind}.tag_set",
                        version,
                        key=key,
                        value=theirs[key],
                        previous=ours.get(key),
                    )
                else:
                    tagging.remove(self.session, table, owner, key, "", missing_ok=True)
                    self.event(f"{kind}.tag_deleted", version, key=key, previous=ours.get(key))
                self.outcome.tags += 1
        return kept

    def sync_model(self, model: RegisteredModel, base_record: ImportRecord) -> None:
        base, theirs = base_record.state, self.item.state()
        if base == theirs:
            return
        kept = dict(theirs)
        ours_tags = {t.key: t.value for t in _model_tags(self.session, model.id)}
        kept["tags"] = self.merge_tags(
            "model", base.get("tags", {}), theirs["tags"], ours_tags, model, None
        )
        description = _merge(base.get("description"), theirs["description"], model.description)
        if description == "apply":
            self.event(
                EventType.MODEL_UPDATED,
                description={"before": model.description, "after": self.item.description},
            )
            model.description = self.item.description
            self.outcome.descriptions += 1
        elif description == "conflict":
            self.conflict("the model's description changed on both sides")
            kept["description"] = base.get("description")
        ours_aliases = dict(
            self.session.execute(
                sa.select(ModelAlias.alias, ModelAlias.version).where(
                    ModelAlias.model_id == model.id
                )
            ).all()
        )
        base_aliases, kept_aliases = base.get("aliases", {}), dict(theirs["aliases"])
        numbers = set(
            self.session.execute(
                sa.select(ModelVersion.version).where(ModelVersion.model_id == model.id)
            ).scalars()
        )
        for alias in sorted(set(base_aliases) | set(theirs["aliases"])):
            was, now = base_aliases.get(alias), theirs["aliases"].get(alias)
            verdict = _merge(was, now, ours_aliases.get(alias))
            if verdict == "apply" and now is not None and now not in numbers:
                verdict = f"alias {alias!r} moved to version {now}, which Modelgate lacks"
            elif verdict == "conflict":
                verdict = f"alias {alias!r} moved on both sides"
            if verdict == "apply":
                if not self.move_alias(model, alias, now):
                    if was is None:
                        kept_aliases.pop(alias, None)
                    else:
                        kept_aliases[alias] = was
            elif verdict != "leave":
                self.conflict(verdict)
                if was is None:
                    kept_aliases.pop(alias, None)
                else:
                    kept_aliases[alias] = was
        kept["aliases"] = kept_aliases
        if kept != base:
            touch(model, self.now)
        self.save(MODEL_ITSELF, kept, base_record)

    def conflict(self, message: str) -> None:
        self.outcome.conflicts.append(message)


def _merge(base: Any, theirs: Any, ours: Any) -> str:
    """The three-way verdict on one field: leave, apply theirs, or a conflict."""
    if theirs in (base, ours):
        return "leave"  # nothing new at the source, or both sides already agree
    if ours == base:
        return "apply"
    return "conflict"


def _original(
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


def _versions_changed(item: SourceModel, records: dict[int, ImportRecord]) -> bool:
    listed = {v.version: v.state() for v in item.versions}
    known = {n: r.state for n, r in records.items() if n != MODEL_ITSELF}
    return listed != known


def _local_versions(session: Session, model_id: int) -> list[ModelVersion]:
    return list(
        session.execute(
            sa.select(ModelVersion)
            .where(ModelVersion.model_id == model_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    )


def _model_tags(session: Session, model_id: int) -> list[RegisteredModelTag]:
    return list(
        session.execute(
            sa.select(RegisteredModelTag).where(RegisteredModelTag.model_id == model_id)
        ).scalars()
    )


def import_model(
    session: Session,
    principal: Principal,
    source: str,
    item: SourceModel,
    *,
    sync: bool,
    policies: PolicySet,
    source_moves: str = "request",
) -> Outcome:
    """Import one model from ``source`` (its URL), or bring over its changes.

    A model never imported from this source is created with all its versions, stages, aliases
    and tags as they are, unless Modelgate already has a model of that name (a conflict), or
    this is a ``sync`` run: a model new at the source since is created governed (versions in
    None, stages as requests). A model imported before is left alone when nothing changed at
    the source; when something did, it is "skipped" with a note unless ``sync`` is set,
    which brings the changes over, files the source's stage moves as transition requests
    under ``policies`` (or, with ``source_moves="skip"``, holds them back), moves aliases as
    a contributor may, and reports conflicts. Bad data raises InvalidArgument, and the
    caller rolls the model back.
    """
    if source_moves not in SOURCE_MOVES:
        raise InvalidArgument(f"source_moves must be one of {', '.join(SOURCE_MOVES)}.")
    item = check_model(item)
    importer = _Importer(session, principal, source, item, utcnow(), policies, source_moves)
    outcome = importer.outcome
    records = {
        r.version: r
        for r in session.execute(
            sa.select(ImportRecord).where(
                ImportRecord.source == source, ImportRecord.model == item.name
            )
        ).scalars()
    }
    model = session.execute(
        sa.select(RegisteredModel)
        .where(RegisteredModel.name_key == validation.name_key(item.name))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if MODEL_ITSELF not in records:
        if model is None:
            importer.create(governed=sync)
        else:
            importer.conflict(
                f"Modelgate already has a model named {model.name!r} that was not imported "
                "from this source; nothing was changed"
            )
            outcome.action = "conflict"
        return outcome
    changed = records[MODEL_ITSELF].state != item.state() or _versions_changed(item, records)
    if not changed:
        return outcome
    if not sync:
        outcome.action = "skipped"
        outcome.notes.append("changed at the source since the last import; --sync brings it over")
        return outcome
    importer.sync(model, records)
    if outcome.conflicts:
        outcome.action = "conflict"
    elif outcome.held:
        outcome.action = "held"
    elif outcome.changes:
        outcome.action = "updated"
    return outcome
