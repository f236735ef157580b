"""Keyset pagination and the opaque, signed page tokens that carry a cursor between calls.

A cursor is the sort key of the last row served, so every page is an index range scan no
matter how deep the caller goes (no OFFSET). The token signs the cursor together with the kind
of listing and a fingerprint of its filters: a token cannot be forged, edited, or replayed
against a different query.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from itsdangerous import BadSignature, URLSafeSerializer

from registry.domain.errors import InvalidArgument

T = TypeVar("T")

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: dict[str, Any] | None


def check_max_results(
    value: int | None, *, default: int = DEFAULT_MAX_RESULTS, maximum: int = MAX_RESULTS
) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidArgument(f"max_results must be between 1 and {maximum}.", field="max_results")
    return value


def paginate(rows: list[T], limit: int, cursor_of: Any) -> Page[T]:
    """Rows were fetched with LIMIT limit+1; the extra row only says another page exists."""
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, cursor_of(rows[-1]))
    return Page(rows, None)


def _fingerprint(filters: Mapping[str, Any]) -> str:
    blob = json.dumps(filters, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class PageTokens:
    """Encodes cursors into tokens and back, refusing anything it did not sign."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt="modelgate.page-token")

    def encode(
        self, kind: str, cursor: dict[str, Any] | None, filters: Mapping[str, Any]
    ) -> str | None:
        if cursor is None:
            return None
        return self._serializer.dumps({"k": kind, "f": _fingerprint(filters), "c": cursor})

    def decode(
        self, kind: str, token: str | None, filters: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        if token is None or token == "":
            return None
        try:
            payload = self._serializer.loads(token)
        except (BadSignature, UnicodeError, ValueError):
            payload = None
        if (
            not isinstance(payload, dict)
            or payload.get("k") != kind
            or not isinstance(payload.get("c"), dict)
        ):
            raise InvalidArgument(
                "page_token is not a token this listing issued.", field="page_token"
            )
        if payload.get("f") != _fingerprint(filters):
            raise InvalidArgument(
                "page_token belongs to a listing with other filters; start again without it.",
                field="page_token",
            )
        return dict(payload["c"])
