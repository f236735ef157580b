"""Bringing a model over: the first import (:meth:`ModelImport.create`), and later runs that
bring the source's changes over (:meth:`ModelImport.sync`), judged three ways per field.

Each field is judged as last imported (base), as the source has it now (theirs) and as
Modelgate has it now (ours). Only the source changed: it is brought over. Both changed,
differently: a conflict, reported and never overwritten. A stage moved at the source becomes
a transition request filed by a principal that may approve nothing; an alias moved there is
moved here only as the alias rules let any contributor move it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import registered_models, tagging, transitions, validation
from registry.domain.errors import Conflict, DomainError
from registry.domain.events import EventType
from registry.domain.imports.source import SourceModel, SourceVersion
from registry.domain.imports.writes import ImportWriter, original
from registry.domain.locking import touch
from registry.domain.stages import Stage
from registry.orm import (
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)
from registry.orm.imports import MODEL_ITSELF, ImportRecord


class ModelImport(ImportWriter):
    """One model's import, inside the caller's transaction: the first import
    (:meth:`create`), or bringing the source's changes over (:meth:`sync`)."""

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
            original=original(item.created_at, item.updated_at, item.user_id),
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

    # -- later runs -------------------------------------------------------------------

    def sync(self, model: RegisteredModel | None, records: dict[int, ImportRecord]) -> None:
        """Bring over what changed at the source since ``records`` were written."""
        item = self.item
        base_model = records[MODEL_ITSELF]
        if model is None:
            if base_model.state != item.state() or versions_changed(item, records):
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


def _merge(base: Any, theirs: Any, ours: Any) -> str:
    """The three-way verdict on one field: leave, apply theirs, or a conflict."""
    if theirs in (base, ours):
        return "leave"  # nothing new at the source, or both sides already agree
    if ours == base:
        return "apply"
    return "conflict"


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


def versions_changed(item: SourceModel, records: dict[int, ImportRecord]) -> bool:
    listed = {v.version: v.state() for v in item.versions}
    known = {n: r.state for n, r in records.items() if n != MODEL_ITSELF}
    return listed != known
