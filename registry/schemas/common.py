"""Fields and schemas shared by every resource."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma
from marshmallow import fields


def utc_text(value: dt.datetime | None) -> str | None:
    """A time as UTCTime writes it."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class UTCTime(fields.Field):
    """RFC 3339 in UTC with a ``Z``: ``2026-11-22T10:00:00.123456Z``."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return utc_text(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        if not isinstance(value, str):
            raise ma.ValidationError("Not a valid RFC 3339 time.")
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ma.ValidationError("Not a valid RFC 3339 time.") from None
        if parsed.tzinfo is None:
            raise ma.ValidationError("The time needs a zone: end it with Z or +HH:MM.")
        return parsed.astimezone(dt.UTC)


def StringMap(**kwargs: Any) -> fields.Dict:  # noqa: N802 - a field factory
    return fields.Dict(keys=fields.String(), values=fields.String(), **kwargs)


class ErrorOut(ma.Schema):
    error_code = fields.String(
        required=True, metadata={"description": "Stable machine-readable code, e.g. NOT_FOUND."}
    )
    message = fields.String(required=True, metadata={"description": "A human sentence."})
    details = fields.Dict(metadata={"description": "Extra facts about the error."})
    request_id = fields.String(metadata={"description": "Quote it when reporting a problem."})


class ShownOnce(ma.Schema):
    """A representation with a secret that only the answer creating it carries: the fields
    named in SHOWN_ONCE are left out, not null, when there is no value to show."""

    SHOWN_ONCE: tuple[str, ...] = ()

    @ma.post_dump
    def _leave_out_secrets_not_shown(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        for name in self.SHOWN_ONCE:
            if data.get(name) is None:
                data.pop(name, None)
        return data


class TagIn(ma.Schema):
    value = fields.String(required=True)


class PageArgs(ma.Schema):
    max_results = fields.Integer(metadata={"description": "Page size, 1 to 1000 (default 100)."})
    page_token = fields.String(
        metadata={"description": "The next_page_token of the previous page, passed back as is."}
    )
