"""MLflow's error envelope and statuses, for the MLflow routes only.

The native handlers (registry.web.errors) still do the work — roll back, log faults with the
request id, word the message — and this module renames their code to the one MLflow clients
know and answers with the status MLflow's own server uses for it. The status matters to the
client: it retries 429 and 5xx for minutes (POSTs included), so a caller's mistake must never
be a 5xx. Bodies keep the native ``details`` and ``request_id``; clients ignore what they do
not know.
"""

from __future__ import annotations

from flask import Blueprint, Response, json
from werkzeug.exceptions import HTTPException

from registry.domain.errors import DomainError, InvalidTransition
from registry.web import errors

# Native error code -> MLflow error code.
CODE = {
    "INVALID_ARGUMENT": "INVALID_PARAMETER_VALUE",
    "UNAUTHENTICATED": "UNAUTHENTICATED",
    "PERMISSION_DENIED": "PERMISSION_DENIED",
    # Governance refusing a move is, to an MLflow caller, not being allowed to make it.
    "POLICY_VIOLATION": "PERMISSION_DENIED",
    "NOT_FOUND": "RESOURCE_DOES_NOT_EXIST",
    "METHOD_NOT_ALLOWED": "ENDPOINT_NOT_FOUND",
    "ALREADY_EXISTS": "RESOURCE_ALREADY_EXISTS",
    "CONFLICT": "RESOURCE_CONFLICT",
    "PRECONDITION_FAILED": "RESOURCE_CONFLICT",
    # Not RESOURCE_EXHAUSTED: its 429 would make the client send the same body seven times.
    "PAYLOAD_TOO_LARGE": "BAD_REQUEST",
    "RATE_LIMITED": "REQUEST_LIMIT_EXCEEDED",
    "UNAVAILABLE": "TEMPORARILY_UNAVAILABLE",
    "INTERNAL": "INTERNAL_ERROR",
}

# The statuses MLflow's server answers with (RESOURCE_ALREADY_EXISTS is 400 there, not 409).
STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_STATE_TRANSITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "RESOURCE_CONFLICT": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "INTERNAL_ERROR": 500,
    "TEMPORARILY_UNAVAILABLE": 503,
}

_KEPT_HEADERS = ("Retry-After", "WWW-Authenticate")


def mlflow_response(code: str, message: str) -> Response:
    return Response(
        json.dumps({"error_code": code, "message": message}),
        status=STATUS[code],
        mimetype="application/json",
    )


def handle(error: Exception) -> Response:
    native = _native(error)
    body = json.loads(native.get_data())
    # The stage table refusing a move is its own MLflow code, where the native API says CONFLICT.
    if isinstance(error, InvalidTransition):
        code = "INVALID_STATE_TRANSITION"
    else:
        code = CODE.get(body["error_code"], "INTERNAL_ERROR")
    body["error_code"] = code
    response = Response(json.dumps(body), status=STATUS[code], mimetype="application/json")
    for name in _KEPT_HEADERS:
        if name in native.headers:
            response.headers[name] = native.headers[name]
    return response


def _native(error: Exception) -> Response:
    if isinstance(error, DomainError):
        return errors.handle_domain_error(error)
    if isinstance(error, HTTPException):
        return errors.handle_http_exception(error)
    return errors.handle_unexpected(error)


def register(blueprint: Blueprint) -> None:
    """Every error raised while serving one of ``blueprint``'s routes (authentication and the
    app's request hooks included) answers in MLflow's envelope."""
    blueprint.register_error_handler(Exception, handle)
