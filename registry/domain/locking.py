"""Finding a registered model's row, and locking it: where every change to a model begins.

Every change to a model (or to one of its versions, requests or files) starts by locking the
model's row, then the version's, so changes to one model are serialised and two writers never
both act on a stale view of it. These helpers are shared by every module that changes models,
so they live apart from any of them.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import validation
from registry.domain.errors import InvalidArgument, NotFound
from registry.orm import ModelVersion, RegisteredModel
from registry.orm.base import utcnow


def lookup_name(name: object) -> str:
    """A name to look up: one that could never have been registered is simply not found
    (and never reaches the database, which may not even be able to hold it)."""
    try:
        return validation.model_name(name)
    except InvalidArgument:
        raise NotFound(f"Registered model {name!r} not found.") from None


def find_model(session: Session, name: str) -> RegisteredModel | None:
    name = lookup_name(name)
    return session.execute(
        sa.select(RegisteredModel).where(RegisteredModel.name == name)
    ).scalar_one_or_none()


def lock_model(session: Session, name: str) -> RegisteredModel:
    """The model's row, locked until the transaction ends; NotFound if there is none."""
    name = lookup_name(name)
    model = session.execute(
        sa.select(RegisteredModel)
        .where(RegisteredModel.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if model is None:
        raise NotFound(f"Registered model {name!r} not found.")
    return model


def lock_model_id(session: Session, model_id: int) -> RegisteredModel:
    """The model's row by id, locked; for callers that found it through another row."""
    model = session.get(RegisteredModel, model_id, with_for_update=True, populate_existing=True)
    if model is None:
        raise NotFound("Registered model not found.")
    return model


def touch(model: RegisteredModel, now: dt.datetime | None = None) -> None:
    model.updated_at = now or utcnow()


def lock_version(session: Session, model: RegisteredModel, version: int) -> ModelVersion:
    """The version's row, locked; its model must already be locked by the caller."""
    row = session.execute(
        sa.select(ModelVersion)
        .where(ModelVersion.model_id == model.id, ModelVersion.version == version)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"Model version {model.name!r} version {version} not found.")
    return row
