"""Request ids and logging.

Every request gets an id: the caller's ``X-Request-ID`` when it is a sane token, otherwise a
fresh one. It is returned in the ``X-Request-ID`` header and in error bodies, stamped on every
audit event the request causes, and attached to each log line.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid

from flask import Flask, Response, g, has_request_context, request

from registry.domain.events import REQUEST_ID
from registry.extensions import db

HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


def assign_request_id() -> None:
    incoming = request.headers.get(HEADER, "")
    g.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
    db.session.info[REQUEST_ID] = g.request_id


def echo_request_id(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[HEADER] = request_id
    return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(level: str) -> None:
    """Log to stderr with the request id; leaves handlers alone if the host configured them."""
    root = logging.getLogger("modelgate")
    root.setLevel(level.upper())
    if not any(isinstance(h, logging.StreamHandler) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
        root.propagate = False


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_LEVEL"])
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)
