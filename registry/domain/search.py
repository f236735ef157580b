"""Searching models and versions by typed criteria: the one query behind the listings.

Callers parse their own filter languages (the native API's name glob and ``key=value`` tags,
the MLflow filter grammar) into :class:`Comparison` and :class:`TagComparison` values and
name an order; this module turns them into SQL, leaves out what the caller may not read, and
pages by keyset on the order's columns, with the entity's unique key as the last tie-breaker,
so every page is a range scan however deep the caller goes.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import globs, permissions, readmodels
from registry.domain.errors import InvalidArgument
from registry.domain.pagination import MAX_RESULTS, Page, check_max_results, paginate
from registry.domain.principal import Principal
from registry.domain.readmodels import ModelInfo, VersionInfo
from registry.orm import ModelVersion, ModelVersionTag, RegisteredModel, RegisteredModelTag

# Searches of versions may return whole model histories in one page, as MLflow clients ask
# (their default page is 10 000 versions).
MAX_VERSION_RESULTS = 200_000

OPERATORS = frozenset({"=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN"})
TAG_OPERATORS = frozenset({"=", "!=", "LIKE", "ILIKE"})
LIKE_ESCAPE = "\\"


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``: for ``IN`` and ``NOT IN`` the value is a tuple."""

    field: str
    op: str
    value: str | int | tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class TagComparison:
    """A comparison of the tag ``key``'s value. An entity without the tag never matches,
    unless ``missing`` says which value an absent tag counts as."""

    key: str
    op: str
    value: str
    missing: str | None = None


@dataclass(frozen=True, slots=True)
class OrderKey:
    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """Every comparison must hold; rows come in ``order``, then by the entity's unique key."""

    where: Sequence[Comparison] = ()
    tags: Sequence[TagComparison] = ()
    order: Sequence[OrderKey] = ()


@dataclass(frozen=True, slots=True)
class _Entity:
    select: Callable[[Session], sa.Select[Any]]
    from_row: Callable[[Any], Any]
    fields: dict[str, Any]
    tag_table: Any
    tag_owner: Any  # the tag table's column naming its owner
    owner_id: Any
    unique: tuple[OrderKey, ...]  # appended to any order so keyset paging never skips a row
    maximum: int


MV = ModelVersion
MODELS = _Entity(
    readmodels.select_models,
    readmodels.model_from_row,
    {
        "name": RegisteredModel.name,
        "created_at": RegisteredModel.created_at,
        "updated_at": RegisteredModel.updated_at,
    },
    RegisteredModelTag,
    RegisteredModelTag.model_id,
    RegisteredModel.id,
    (OrderKey("name"),),
    MAX_RESULTS,
)
VERSIONS = _Entity(
    readmodels.select_versions,
    readmodels.version_from_row,
    {
        "name": RegisteredModel.name,
        "version": MV.version,
        "run_id": MV.run_id,
        "source": MV.source,
        "stage": MV.stage,
        "created_at": MV.created_at,
        "updated_at": MV.updated_at,
    },
    ModelVersionTag,
    ModelVersionTag.version_id,
    MV.id,
    (OrderKey("name"), OrderKey("version", descending=True)),
    MAX_VERSION_RESULTS,
)
ORDERABLE = frozenset({"name", "version", "created_at", "updated_at"})


def search_models(
    session: Session,
    principal: Principal,
    query: Query = Query(),
    *,
    max_results: int | None = None,
    after: dict[str, Any] | None = None,
) -> Page[ModelInfo]:
    """The models the principal may read that meet the query, by its order, then by name.
    ``after`` is the cursor of the previous page."""
    return _search(session, principal, MODELS, query, max_results, after)


def search_versions(
    session: Session,
    principal: Principal,
    query: Query = Query(),
    *,
    max_results: int | None = None,
    after: dict[str, Any] | None = None,
) -> Page[VersionInfo]:
    """The versions of models the principal may read that meet the query, by its order, then
    by model name and newest version first."""
    return _search(session, principal, VERSIONS, query, max_results, after)


def _search(
    session: Session,
    principal: Principal,
    entity: _Entity,
    query: Query,
    max_results: int | None,
    after: dict[str, Any] | None,
) -> Page[Any]:
    limit = check_max_results(max_results, maximum=entity.maximum)
    stmt = entity.select(session).where(readable(principal))
    for comparison in query.where:
        column = entity.fields.get(comparison.field)
        if column is None:
            raise InvalidArgument(f"Cannot filter on {comparison.field!r}.", field="filter")
        stmt = stmt.where(_compare(column, comparison.op, comparison.value))
    for tag in query.tags:
        stmt = stmt.where(_tag_clause(entity, tag))
    keys = _full_order(query.order, entity)
    if after is not None:
        stmt = stmt.where(_after(entity.fields, keys, _decode_cursor(keys, after)))
    columns = [entity.fields[k.field] for k in keys]
    stmt = stmt.order_by(
        *(c.desc() if k.descending else c.asc() for c, k in zip(columns, keys, strict=True))
    )
    rows = [entity.from_row(row) for row in session.execute(stmt.limit(limit + 1))]
    return paginate(rows, limit, functools.partial(_cursor, keys))


def name_like(pattern: str) -> Any:
    """A WHERE clause matching model names against a glob (an equality when it has none)."""
    if "*" not in pattern and "?" not in pattern:
        return RegisteredModel.name == pattern
    return RegisteredModel.name.like(globs.to_like(pattern, LIKE_ESCAPE), escape=LIKE_ESCAPE)


def readable(principal: Principal) -> Any:
    """A WHERE clause keeping the models the principal may read (true when it reads all)."""
    visible = permissions.readable_patterns(principal)
    if visible is None:
        return sa.true()
    return sa.or_(sa.false(), *(name_like(p) for p in visible))


def _compare(column: Any, op: str, value: Any) -> Any:
    if op not in OPERATORS:
        raise InvalidArgument(f"Unknown comparison {op!r}.", field="filter")
    if op in ("IN", "NOT IN"):
        if not isinstance(value, tuple) or not value:
            raise InvalidArgument(f"{op} needs a non-empty list of values.", field="filter")
        return column.in_(value) if op == "IN" else column.not_in(value)
    if isinstance(value, tuple):
        raise InvalidArgument(f"{op} compares with one value, not a list.", field="filter")
    if op in ("LIKE", "ILIKE"):
        # PostgreSQL fails the whole query on a pattern ending in a lone escape character.
        trailing = len(str(value)) - len(str(value).rstrip(LIKE_ESCAPE))
        if not isinstance(value, str) or trailing % 2:
            raise InvalidArgument(
                f"{op} takes a text pattern that does not end with a lone {LIKE_ESCAPE!r}.",
                field="filter",
            )
        like = column.like if op == "LIKE" else column.ilike
        return like(value, escape=LIKE_ESCAPE)
    return {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }[op](value)


def _tag_clause(entity: _Entity, tag: TagComparison) -> Any:
    if tag.op not in TAG_OPERATORS:
        raise InvalidArgument(f"Tags cannot be compared with {tag.op!r}.", field="filter")
    table = entity.tag_table
    present = sa.exists().where(entity.tag_owner == entity.owner_id, table.key == tag.key)
    matching = present.where(_compare(table.value, tag.op, tag.value))
    if tag.missing is not None and holds(tag.missing, tag.op, tag.value):
        return sa.or_(matching, ~present)
    return matching


def holds(actual: str, op: str, expected: str) -> bool:
    """``actual op expected`` evaluated as the database would, for the values of absent tags."""
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    flags = re.IGNORECASE if op == "ILIKE" else 0
    return re.fullmatch(_like_regex(expected), actual, flags | re.DOTALL) is not None


def _like_regex(pattern: str) -> str:
    out, escaped = [], False
    for ch in pattern:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == LIKE_ESCAPE:
            escaped = True
        else:
            out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return "".join(out)


def _full_order(order: Sequence[OrderKey], entity: _Entity) -> list[OrderKey]:
    seen = set()
    for key in order:
        if key.field not in ORDERABLE or key.field not in entity.fields:
            raise InvalidArgument(f"Cannot order by {key.field!r}.", field="order_by")
        if key.field in seen:
            raise InvalidArgument(f"{key.field!r} is ordered on twice.", field="order_by")
        seen.add(key.field)
    return [*order, *(key for key in entity.unique if key.field not in seen)]


def _after(fields: dict[str, Any], keys: Sequence[OrderKey], values: list[Any]) -> Any:
    """Rows strictly after the cursor in the order of ``keys`` (a row-value comparison written
    out, since the directions may differ from key to key)."""
    clauses = []
    for i, key in enumerate(keys):
        column = fields[key.field]
        ties = [fields[k.field] == v for k, v in zip(keys[:i], values[:i], strict=True)]
        beyond = column < values[i] if key.descending else column > values[i]
        clauses.append(sa.and_(*ties, beyond))
    return sa.or_(*clauses)


def _cursor(keys: Sequence[OrderKey], item: Any) -> dict[str, Any]:
    cursor = {}
    for key in keys:
        value = getattr(item, key.field)
        cursor[key.field] = value.isoformat() if isinstance(value, dt.datetime) else value
    return cursor


def _decode_cursor(keys: Sequence[OrderKey], cursor: dict[str, Any]) -> list[Any]:
    values = []
    for key in keys:
        value = cursor.get(key.field)
        try:
            if key.field in ("created_at", "updated_at"):
                value = dt.datetime.fromisoformat(value)
                if value.tzinfo is None:
                    raise ValueError
            elif key.field == "version":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError
            elif not isinstance(value, str):
                raise ValueError
        except (TypeError, ValueError):
            raise InvalidArgument("page_token is malformed.", field="page_token") from None
        values.append(value)
    return values
