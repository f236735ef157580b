"""Tags on models and versions: one upsert and one removal rule for both."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import validation
from registry.domain.errors import InvalidArgument, NotFound


def upsert(
    session: Session, table: Any, owner: dict[str, int], key: str, value: str, what: str
) -> str | None:
    """Set ``key`` to ``value`` on the owner (e.g. ``{"model_id": 3}``); returns the old value.

    Refuses a new key once the owner holds MAX_TAGS.
    """
    tag = session.get(table, (*owner.values(), key))
    if tag is not None:
        previous = tag.value
        tag.value = value
        return previous
    count = session.execute(
        sa.select(sa.func.count()).select_from(table).filter_by(**owner)
    ).scalar_one()
    if count >= validation.MAX_TAGS:
        raise InvalidArgument(f"A {what} holds at most {validation.MAX_TAGS} tags.", field="key")
    session.add(table(**owner, key=key, value=value))
    return None


def remove(
    session: Session,
    table: Any,
    owner: dict[str, int],
    key: str,
    missing: str,
    *,
    missing_ok: bool = False,
) -> str | None:
    """Delete the tag and return its value. If there is none: None with ``missing_ok``,
    otherwise NotFound with the message ``missing``."""
    tag = session.get(table, (*owner.values(), key))
    if tag is None:
        if missing_ok:
            return None
        raise NotFound(missing)
    session.delete(tag)
    return tag.value
