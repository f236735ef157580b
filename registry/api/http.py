"""Small helpers the views share: JSON answers with ETags, conditional requests, page tokens."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Response, current_app, json, request
from webargs.flaskparser import FlaskParser

from registry.domain.errors import PreconditionFailed
from registry.domain.pagination import PageTokens
from registry.domain.policy import PolicySet


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """smorest's Blueprint with a strict parser: an unknown query parameter is an error, not
    silently ignored, so a typo (``?fliter=``) cannot quietly widen a listing."""

    ARGUMENTS_PARSER = FlaskParser(unknown=ma.RAISE)


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
