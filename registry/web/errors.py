"""Every error leaves the service in one JSON shape, with a stable code and the right status.

``{"error_code": "NOT_FOUND", "message": "...", "details": {...}, "request_id": "..."}``.
Domain errors map by code; HTTP errors from Flask, werkzeug and webargs map by status; a
database that cannot be reached is 503; anything else is a 500 that is logged with its
traceback and the request id, and shows neither to the caller.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, json
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from registry.domain.errors import DomainError
from registry.extensions import db
from registry.web import refusals

log = logging.getLogger("modelgate.errors")

STATUS_BY_CODE = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "ALREADY_EXISTS": 409,
    "CONFLICT": 409,
    "PRECONDITION_FAILED": 412,
    "PAYLOAD_TOO_LARGE": 413,
    "POLICY_VIOLATION": 422,
    "RATE_LIMITED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
}

CODE_BY_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "INVALID_ARGUMENT",
    409: "CONFLICT",
    411: "INVALID_ARGUMENT",
    412: "PRECONDITION_FAILED",
    413: "PAYLOAD_TOO_LARGE",
    414: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    428: "PRECONDITION_FAILED",
    429: "RATE_LIMITED",
    431: "INVALID_ARGUMENT",
    503: "UNAVAILABLE",
}


def error_response(
    code: str,
    message: str,
    status: int | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"error_code": code, "message": message}
    if details:
        body["details"] = details
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    response = Response(
        json.dumps(body),
        status=status or STATUS_BY_CODE.get(code, 500),
        mimetype="application/json",
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="modelgate"')
    return response


def _rollback() -> None:
    # Nothing half-done may survive an error: the change, its events and its outbox rows
    # go together. (Teardown would roll back too, but a handler may still query.)
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection may be the thing that failed
        log.debug("rollback after error failed", exc_info=True)


def handle_domain_error(error: DomainError) -> Response:
    _rollback()
    refusals.note(error)  # logged, and on the record if it refused a write
    return error_response(error.code, error.message, details=error.details)


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return handle_unexpected(error)
    code = CODE_BY_STATUS.get(status, "INVALID_ARGUMENT")
    data = getattr(error, "data", None) or {}
    details: dict[str, Any] = {}
    message = error.description or error.name
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:
        # webargs: {"json": {"field": ["problem"]}} -> details.fields, one list per field
        flat: dict[str, Any] = {}
        for location_errors in messages.values():
            if isinstance(location_errors, dict):
                flat.update(location_errors)
            else:
                flat.setdefault("_body", location_errors)
        if list(flat) == ["_body"]:
            # webargs' way of saying the JSON itself did not parse
            message = "The request body is not valid JSON."
        else:
            details["fields"] = flat
            message = "The request does not match the schema: " + "; ".join(
                f"{field}: {_first(problem)}" for field, problem in sorted(flat.items())
            )
    elif status == 413:
        message = "The request body is larger than this service accepts."
    elif status == 404:
        message = "No such resource or route."
    elif status == 405:
        message = "This route does not accept that method."
    headers = dict(data.get("headers") or {}) if isinstance(data, dict) else {}
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    return error_response(code, message, status, details or None, headers)


def _first(problem: Any) -> str:
    if isinstance(problem, list) and problem:
        return _first(problem[0])
    if isinstance(problem, dict) and problem:
        key, value = next(iter(problem.items()))
        return f"{key}: {_first(value)}"
    return str(problem)


def handle_database_unavailable(error: Exception) -> Response:
    _rollback()
    log.error("database unavailable: %s", error.__class__.__name__, exc_info=False)
    return error_response(
        "UNAVAILABLE",
        "The database is not reachable right now; retry shortly.",
        503,
        headers={"Retry-After": "2"},
    )


def handle_unexpected(error: BaseException) -> Response:
    _rollback()
    original = getattr(error, "original_exception", None) or error
    if isinstance(original, DomainError):
        return handle_domain_error(original)
    if _is_connection_error(original):
        return handle_database_unavailable(original)
    log.error("unhandled error (request %s)", g.get("request_id"), exc_info=original)
    return error_response("INTERNAL", "An unexpected error occurred; it has been logged.", 500)


def _is_connection_error(error: BaseException) -> bool:
    if isinstance(error, PoolTimeout):
        return True
    if isinstance(error, OperationalError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def register(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
