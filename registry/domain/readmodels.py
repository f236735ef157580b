"""What the registry answers with: plain records of models and versions, each built in one query.

Tags, aliases and the latest version per stage are gathered by correlated JSON aggregates in
the same SELECT as the row they belong to, so reading a version (the resolution hot path) or
a page of models costs one round trip. The native API and the MLflow layer format these
records their own way.

The SELECTs are built once per dialect and reused: building one costs more than running it
(each column, subquery and comparison is an object), and a statement object that is used
again keeps its cache key, so SQLAlchemy compiles it once. Hot statements take their values
as bind parameters for the same reason. Statements are immutable; ``.where()`` on a shared
one returns a new one.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.orm import ModelAlias, ModelVersion, ModelVersionTag, RegisteredModel
from registry.orm.model_version import ModelVersion as MV
from registry.orm.registered_model import RegisteredModelTag


@dataclass(frozen=True, slots=True)
class VersionInfo:
    name: str
    version: int
    source: str
    run_id: str | None
    run_link: str | None
    description: str | None
    tags: dict[str, str]
    stage: str
    aliases: list[str]
    status: str
    status_message: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str | None
    digest: str | None = None  # "sha256:<hex>", the model-signing digest of its files


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    description: str | None
    tags: dict[str, str]
    aliases: dict[str, int]
    latest_versions: dict[str, int]
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str | None


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _object_agg(dialect: str, key: Any, value: Any) -> Any:
    if dialect == "postgresql":
        return sa.func.json_object_agg(key, value)
    return sa.func.json_group_object(key, value)


def _array_agg(dialect: str, value: Any) -> Any:
    if dialect == "postgresql":
        return sa.func.json_agg(value)
    return sa.func.json_group_array(value)


def _json(value: Any, empty: Any) -> Any:
    """psycopg2 hands back parsed JSON, sqlite3 a string, and an empty aggregate NULL."""
    if value is None:
        return empty
    if isinstance(value, str):
        return json.loads(value)
    return value


def version_columns(dialect: str) -> list[Any]:
    tags = (
        sa.select(_object_agg(dialect, ModelVersionTag.key, ModelVersionTag.value))
        .where(ModelVersionTag.version_id == MV.id)
        .correlate(MV)
        .scalar_subquery()
    )
    # Correlated on the version only, so callers may join model_aliases themselves (the
    # alias form of resolution does) without it leaking into this subquery.
    aliases = (
        sa.select(_array_agg(dialect, ModelAlias.alias))
        .where(ModelAlias.model_id == MV.model_id, ModelAlias.version == MV.version)
        .correlate(MV)
        .scalar_subquery()
    )
    return [
        RegisteredModel.name,
        MV.version,
        MV.source,
        MV.run_id,
        MV.run_link,
        MV.description,
        tags.label("tags"),
        MV.stage,
        aliases.label("aliases"),
        MV.status,
        MV.status_message,
        MV.created_at,
        MV.updated_at,
        MV.created_by,
        MV.digest,
    ]


def select_versions(session: Session) -> sa.Select[Any]:
    """SELECT of VersionInfo rows; callers add WHERE, ORDER BY and LIMIT."""
    return versions_select(_dialect(session))


@functools.cache
def versions_select(dialect: str) -> sa.Select[Any]:
    return sa.select(*version_columns(dialect)).join(
        RegisteredModel, RegisteredModel.id == MV.model_id
    )


def version_from_row(row: Any) -> VersionInfo:
    return VersionInfo(
        name=row.name,
        version=row.version,
        source=row.source,
        run_id=row.run_id,
        run_link=row.run_link,
        description=row.description,
        tags=_json(row.tags, {}),
        stage=row.stage,
        aliases=sorted(_json(row.aliases, [])),
        status=row.status,
        status_message=row.status_message,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
        digest=row.digest,
    )


@functools.cache
def select_version_by(dialect: str, kind: str) -> sa.Select[Any]:
    """The one query that finds a model's version by ``kind`` of reference: ``version``
    (bind parameters ``name``, ``version``), ``alias`` (``name``, ``alias``), ``stage``
    (``name``, ``stage``: the highest version in it) or ``latest`` (``name``)."""
    stmt = versions_select(dialect).where(RegisteredModel.name == sa.bindparam("name"))
    if kind == "version":
        return stmt.where(MV.version == sa.bindparam("version"))
    if kind == "alias":
        return stmt.join(
            ModelAlias,
            (ModelAlias.model_id == MV.model_id) & (ModelAlias.version == MV.version),
        ).where(ModelAlias.alias == sa.bindparam("alias"))
    if kind == "stage":
        stmt = stmt.where(MV.stage == sa.bindparam("stage"))
    return stmt.order_by(MV.version.desc()).limit(1)


def fetch_versions(session: Session, stmt: sa.Select[Any]) -> list[VersionInfo]:
    return [version_from_row(r) for r in session.execute(stmt)]


def version_info(session: Session, version_row_id: int) -> VersionInfo:
    stmt = select_versions(session).where(MV.id == version_row_id)
    return version_from_row(session.execute(stmt).one())


def latest_versions(
    session: Session, model_names: Sequence[str], stages: Sequence[str] | None = None
) -> dict[str, list[VersionInfo]]:
    """For each model named, the highest version in each stage that has one (only in
    ``stages`` when given), lowest version first; in one query for a whole page of models."""
    if not model_names:
        return {}
    params: dict[str, Any] = {"names": list(model_names)}
    if stages is not None:
        params["stages"] = list(stages)
    stmt = _latest_select(_dialect(session), stages is not None)
    found: dict[str, list[VersionInfo]] = {name: [] for name in model_names}
    for row in session.execute(stmt, params):
        found[row.name].append(version_from_row(row))
    return found


@functools.cache
def _latest_select(dialect: str, by_stage: bool) -> sa.Select[Any]:
    per_stage = (
        sa.select(MV.model_id, sa.func.max(MV.version).label("version"))
        .join(RegisteredModel, RegisteredModel.id == MV.model_id)
        .where(RegisteredModel.name.in_(sa.bindparam("names", expanding=True)))
        .group_by(MV.model_id, MV.stage)
    )
    if by_stage:
        per_stage = per_stage.where(MV.stage.in_(sa.bindparam("stages", expanding=True)))
    latest = per_stage.subquery()
    return (
        versions_select(dialect)
        .join(latest, (latest.c.model_id == MV.model_id) & (latest.c.version == MV.version))
        .order_by(RegisteredModel.name, MV.version)
    )


def select_models(session: Session) -> sa.Select[Any]:
    """SELECT of ModelInfo rows; callers add WHERE, ORDER BY and LIMIT."""
    return models_select(_dialect(session))


@functools.cache
def models_select(dialect: str) -> sa.Select[Any]:
    rm = RegisteredModel
    tags = (
        sa.select(_object_agg(dialect, RegisteredModelTag.key, RegisteredModelTag.value))
        .where(RegisteredModelTag.model_id == rm.id)
        .correlate(rm)
        .scalar_subquery()
    )
    aliases = (
        sa.select(_object_agg(dialect, ModelAlias.alias, ModelAlias.version))
        .where(ModelAlias.model_id == rm.id)
        .correlate(rm)
        .scalar_subquery()
    )
    per_stage = (
        sa.select(ModelVersion.stage, sa.func.max(ModelVersion.version).label("v"))
        .where(ModelVersion.model_id == rm.id)
        .group_by(ModelVersion.stage)
        .correlate(rm)
        .subquery()
    )
    latest = (
        sa.select(_object_agg(dialect, per_stage.c.stage, per_stage.c.v))
        .correlate(rm)
        .scalar_subquery()
    )
    return sa.select(
        rm.name,
        rm.description,
        tags.label("tags"),
        aliases.label("aliases"),
        latest.label("latest_versions"),
        rm.created_at,
        rm.updated_at,
        rm.created_by,
    )


def model_from_row(row: Any) -> ModelInfo:
    return ModelInfo(
        name=row.name,
        description=row.description,
        tags=_json(row.tags, {}),
        aliases=_json(row.aliases, {}),
        latest_versions=_json(row.latest_versions, {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
    )


def model_info(session: Session, model_row_id: int) -> ModelInfo:
    stmt = select_models(session).where(RegisteredModel.id == model_row_id)
    return model_from_row(session.execute(stmt).one())
