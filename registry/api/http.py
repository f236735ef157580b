"""Small helpers the views share: JSON answers with ETags, conditional requests, page tokens."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Response, current_app, json, request
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter

from registry.domain.errors import InvalidArgument, PreconditionFailed
from registry.domain.pagination import PageTokens
from registry.domain.policy import PolicySet
from registry.domain.validation import MAX_ROW_ID


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """smorest's Blueprint with a strict parser: an unknown query parameter is an error, not
    silently ignored, so a typo (``?fliter=``) cannot quietly widen a listing."""

    ARGUMENTS_PARSER = FlaskParser(unknown=ma.RAISE)


class RowIdConverter(IntegerConverter):  # type: ignore[misc]
    """``<id:...>``: a row id, 1 to 2**63-1. A number no row can have is no route (404),
    rather than an integer overflow in the database driver."""

    def __init__(self, url_map: Any) -> None:
        super().__init__(url_map, min=1, max=MAX_ROW_ID)


def refuse_control_characters() -> None:
    """before_request: a NUL or other control character has no place in a URL (PostgreSQL
    cannot even hold one), so such a request is refused before it reaches a query."""
    raw = request.path + "".join(f"{k}{v}" for k, vs in request.args.lists() for v in vs)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise InvalidArgument("The URL contains a control character.")


def etag_of(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def answer(
    data: Any, status: int = 200, *, etag: bool = False, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response; with ``etag``, a strong ETag of the exact bytes and 304 handling.

    Hashing the body, rather than keeping version counters, makes the ETag correct by
    construction: it changes exactly when the representation does.
    """
    body = dumps(data)
    response = Response(body, status=status, mimetype="application/json")
    if etag:
        tag = etag_of(body)
        response.set_etag(tag)
        if request.method in ("GET", "HEAD") and request.if_none_match.contains(tag):
            response = Response(status=304)
            response.set_etag(tag)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def single(schema: ma.Schema, obj: Any, status: int = 200) -> Response:
    return answer(schema.dump(obj), status, etag=True)


def if_match(schema: ma.Schema) -> Callable[[Any], None] | None:
    """A precondition for the domain to run under its lock when the request has If-Match."""
    if not request.if_match:
        return None
    wanted = request.if_match

    def check(current: Any) -> None:
        tag = etag_of(dumps(schema.dump(current)))
        if not (wanted.star_tag or wanted.contains(tag)):
            raise PreconditionFailed(
                "The resource changed since you read it (If-Match does not match its ETag).",
                etag=tag,
            )

    return check


def page_tokens() -> PageTokens:
    tokens = current_app.extensions.get("modelgate.page_tokens")
    if tokens is None:
        tokens = current_app.extensions["modelgate.page_tokens"] = PageTokens(
            current_app.config["SECRET_KEY"]
        )
    return tokens


def policies() -> PolicySet:
    """The policies loaded (and validated) when the app was built."""
    return current_app.extensions["modelgate.policies"]


def empty(status: int = 204) -> Response:
    return Response(status=status)
