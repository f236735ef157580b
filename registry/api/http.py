"""Small helpers the views share: JSON answers with ETags, conditional requests, page tokens."""

from __future__ import annotations

import hashlib
import json as stdlib_json
from collections.abc import Callable, Mapping
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Flask, Response, current_app, json, request
from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter

from registry.domain import validation
from registry.domain.errors import InvalidArgument, PreconditionFailed
from registry.domain.pagination import PageTokens
from registry.domain.policy import PolicySet
from registry.domain.validation import MAX_ROW_ID


def parse_body(raw: str | bytes, load: Callable[[Any], Any] = stdlib_json.loads) -> Any:
    """A request body decoded by ``load``, refused (InvalidArgument) when it nests too deep:
    every layer reads JSON bodies through this (see :func:`validation.json_document`)."""
    return validation.json_document(raw, load, what="The request body")


class BodyParser(FlaskParser):  # type: ignore[misc]
    """webargs' Flask parser, reading JSON bodies through :func:`parse_body`."""

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return core.missing
        return parse_body(req.get_data(cache=True), core.parse_json)


class JSONProvider(DefaultJSONProvider):
    """Flask's own ``request.get_json`` reads through :func:`parse_body` too."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse_body(s, lambda raw: stdlib_json.loads(raw, **kwargs))


def use_json_provider(app: Flask) -> None:
    app.json = JSONProvider(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """smorest's Blueprint with a strict parser: an unknown query parameter is an error, not
    silently ignored, so a typo (``?fliter=``) cannot quietly widen a listing. Bodies are read
    with a depth limit (:func:`parse_body`)."""

    ARGUMENTS_PARSER = BodyParser(unknown=ma.RAISE)


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
