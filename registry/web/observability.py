"""Request ids and logging.

Every request gets an id of ours, always a fresh one: it is returned in the ``X-Request-ID``
header and in error bodies, stamped on every audit event the request causes, and attached to
each log line. An ``X-Request-ID`` the caller sent (when it is a sane token) is kept apart, as
``client_request_id`` on the audit events and log lines, to correlate with the caller's own
traces: taking it as ours would let one caller file its change under another request's id.

Logs go to stderr as text for people or, with ``MODELGATE_LOG_FORMAT=json``, as one JSON
object per line for a log collector; gunicorn's own logs follow the same setting
(:mod:`registry.serve.gunicorn_conf`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from registry.domain.events import CLIENT_REQUEST_ID, REQUEST_ID
from registry.extensions import db

HEADER = "X-Request-ID"
# Where the app leaves the authenticated caller's id for gunicorn's access log (the WSGI
# environ is the one thing both see); never a token.
PRINCIPAL_ENVIRON = "modelgate.principal"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Marks the handler we installed, so configuring again replaces our format and never
# touches a handler the host (a test runner, an embedding program) put there itself.
_OURS = "modelgate_handler"


def is_safe_id(value: str) -> bool:
    return bool(_SAFE_ID.match(value)) and value != "-"


def assign_request_id() -> None:
    incoming = request.headers.get(HEADER, "")
    g.request_id = uuid.uuid4().hex
    g.client_request_id = incoming if is_safe_id(incoming) else None
    db.session.info[REQUEST_ID] = g.request_id
    db.session.info[CLIENT_REQUEST_ID] = g.client_request_id


def echo_request_id(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[HEADER] = request_id
    return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        if not hasattr(record, "client_request_id") and has_request_context():
            record.client_request_id = g.get("client_request_id")
        return True


# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is
# worth keeping as a field of its own.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "client_request_id",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, the fields
    given with ``extra=``, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "-")
        if request_id and request_id != "-":
            entry["request_id"] = request_id
        client_request_id = getattr(record, "client_request_id", None)
        if client_request_id:
            entry["client_request_id"] = client_request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: str = "text", names: tuple[str, ...] = ()) -> None:
    """Log ``modelgate`` (and the loggers in ``names``) to stderr in ``log_format`` with the
    request id. A logger that already has a handler the host put there is left alone."""
    for name in ("modelgate", *names):
        logger = logging.getLogger(name)
        logger.setLevel(level.upper())
        ours = [h for h in logger.handlers if getattr(h, _OURS, False)]
        if not ours and any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
            continue
        if ours:
            handler = ours[0]
        else:
            handler = logging.StreamHandler(sys.stderr)
            setattr(handler, _OURS, True)
            handler.addFilter(RequestIdFilter())
            logger.addHandler(handler)
            logger.propagate = False
        handler.setFormatter(formatter(log_format))


def init_app(app: Flask) -> None:
    # The app's own logger (``app.logger``, named after the package) is configured too,
    # before Flask first touches it: Flask then adds no text handler of its own.
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"], names=(app.name,))
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)
