"""Importing one model: created on the first run, left alone when nothing changed at the
source, skipped with a note or synced (``sync``) when something did."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import validation
from registry.domain.errors import InvalidArgument
from registry.domain.imports.source import SOURCE_MOVES, Outcome, SourceModel, check_model
from registry.domain.imports.sync import ModelImport, versions_changed
from registry.domain.policy import PolicySet
from registry.domain.principal import Principal
from registry.orm import (
    RegisteredModel,
)
from registry.orm.base import utcnow
from registry.orm.imports import MODEL_ITSELF, ImportRecord


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
    importer = ModelImport(session, principal, source, item, utcnow(), policies, source_moves)
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
    changed = records[MODEL_ITSELF].state != item.state() or versions_changed(item, records)
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
