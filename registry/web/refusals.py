"""Refused requests on the record: the HTTP side of :mod:`registry.domain.refusals`.

Every handler that answers a DomainError (the native API's, the MLflow layer's, the
console's) calls :func:`note` once the failed transaction has rolled back. It logs the
refusal (principal, route, codes; never a body, a message or a token) and, for a write,
records it in a short transaction of its own, or counts it when the caller is flooding
(:class:`registry.domain.refusals.FloodGate`). An after-request hook catches any other 401
or 403 answered to a write, so nothing refused goes unrecorded for want of a hook.

Recording never changes the answer: if it fails, the failure is logged and the caller gets
its error as before. Counted refusals are written as summaries by a thread in each server
process when their minute closes, and all of them when the process stops cleanly
(:func:`start`, :func:`stop`, called from registry.serve.gunicorn_conf).
"""

from __future__ import annotations

import atexit
import base64
import binascii
import logging
import re
import threading
import time
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request

from registry.domain import refusals
from registry.domain.errors import DomainError, PermissionDenied, Unauthenticated
from registry.domain.events import REQUEST_ID
from registry.domain.permissions import Action
from registry.extensions import db
from registry.orm.base import utcnow
from registry.web import auth, metrics

log = logging.getLogger("modelgate.refusals")

EXTENSION = "modelgate.refusals"
WRITER = "modelgate.refusals_writer"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_NOTED = "modelgate_refusal_noted"
_ACTIONS = frozenset(a.value for a in Action)
_FAULTS = frozenset({"INTERNAL", "UNAVAILABLE"})  # ours, not refusals: logged as faults
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
# Blueprints whose write calls name their target in a JSON body (MLflow's registry protocol),
# rather than in the path as the native API does. Not the artifact uploads: their body is a
# file, never parsed here.
_BODY_TARGETS = frozenset({"mlflow", "mlflow_ajax", "mlflow_governance", "mlflow_governance_ajax"})


def init_app(app: Flask) -> None:
    reset(app)
    app.after_request(_unexplained)


def reset(app: Flask) -> refusals.FloodGate:
    """A fresh flood gate, counting nothing yet (tests share one app between them)."""
    app.extensions[EXTENSION] = refusals.FloodGate(
        app.config["REFUSALS_PER_CREDENTIAL"], app.config["REFUSALS_PER_MINUTE"]
    )
    return app.extensions[EXTENSION]


def gate(app: Flask | None = None) -> refusals.FloodGate:
    return (app or current_app).extensions[EXTENSION]


def note(error: DomainError, *, action: str | None = None, secret: str | None = None) -> None:
    """A DomainError is being answered: log it, and put it on the record if it refused a
    write. ``secret`` is the credential a form carried (the console's sign-in), when it was
    not in the Authorization header; only its fingerprint is kept."""
    if not has_request_context() or error.code in _FAULTS:
        return
    event = refusals.classify(error)
    writing = request.method not in SAFE_METHODS
    principal = g.get("principal")
    operation = _operation()
    log.log(
        logging.WARNING if event is not None and writing else logging.INFO,
        "refused %s for %s: %s%s",
        operation,
        principal.id if principal is not None else "an unauthenticated caller",
        error.code,
        f" ({error.reason})" if error.reason else "",
        extra={
            "principal": principal.id if principal is not None else None,
            "route": operation,
            "error_code": error.code,
            "reason": error.reason,
            "event": str(event) if event is not None and writing else None,
        },
    )
    if event is None or not writing or g.get(_NOTED):
        return
    g.setdefault(_NOTED, True)
    try:
        refused = refusals.refusal(
            error,
            event,
            caller=principal,
            credential=None if principal is not None else _credential(secret),
            target=_target(),
            operation=operation,
            action=action or _declared_action(),
            client=request.remote_addr,
            request_id=db.session.info.get(REQUEST_ID) or g.get("request_id"),
            at=utcnow(),
        )
        admitted = gate().admit(refused)
        metrics.REFUSALS.labels(str(event), "individually" if admitted else "counted").inc()
        if admitted:
            refusals.write(db.session, refused)
            db.session.commit()
    except Exception:  # noqa: BLE001 - the caller gets its answer whatever happens here
        log.warning("could not record a refused request", exc_info=True)
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the connection may be what failed
            log.debug("rollback after a failed refusal record failed", exc_info=True)


def _unexplained(response: Response) -> Response:
    """after_request: a 401 or 403 to a write that no handler noted (a werkzeug abort, a
    hook of a library) is still a refusal."""
    if (
        response.status_code in (401, 403)
        and request.method not in SAFE_METHODS
        and not g.get(_NOTED)
    ):
        error_class = Unauthenticated if response.status_code == 401 else PermissionDenied
        note(error_class("Refused.", reason=f"http_{response.status_code}"))
    return response


def _operation() -> str:
    rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
    return request.method + " " + _CONVERTER.sub(r"{\1}", rule)


def _declared_action() -> str | None:
    if request.endpoint is None:
        return None
    declared = auth.declared_permission(current_app, request.endpoint, request.method)
    return declared if declared in _ACTIONS else None


def _target() -> refusals.Target:
    args = request.view_args or {}
    found: dict[str, Any] = {
        "model": args.get("name"),
        "version": args.get("version"),
        "request_id": args.get("request_id"),
    }
    if request.blueprint in _BODY_TARGETS:
        body = request.get_json(silent=True) if request.is_json else None
        fields = body if isinstance(body, dict) else request.args
        found = {
            "model": fields.get("name"),
            "version": fields.get("version"),
            "request_id": fields.get("request_id"),
            "to_stage": fields.get("stage"),
        }
    return refusals.Target.parse(**found)


def _credential(secret: str | None) -> refusals.Credential:
    """What the refused caller presented, as a fingerprint: never the secret itself."""
    if secret is not None:
        return refusals.Credential("console", refusals.fingerprint(secret) if secret else None)
    header = request.headers.get("Authorization", "")
    if not header.strip():
        return refusals.Credential("none")
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
            value = decoded.partition(":")[2] or value
        except (binascii.Error, UnicodeDecodeError):
            pass
    elif scheme != "bearer":
        scheme = "other"
    return refusals.Credential(scheme, refusals.fingerprint(value) if value else None)


# --------------------------------------------------------------------------- summaries


def flush(app: Flask, *, everything: bool = False) -> int:
    """Write the summaries of closed minutes (``everything``: the open one's too). Returns
    the refusals they counted; on failure they are kept for the next flush."""
    summaries = gate(app).take(everything=everything)
    if not summaries:
        return 0
    with app.app_context():
        try:
            counted = refusals.write_summaries(db.session, summaries)
            db.session.commit()
        except Exception:  # noqa: BLE001 - kept, and tried again at the next flush
            log.warning("could not write refusal summaries; will retry", exc_info=True)
            db.session.rollback()
            gate(app).give_back(summaries)
            return 0
        finally:
            db.session.remove()
    return counted


class SummaryWriter(threading.Thread):
    """Writes each minute's summaries shortly after the minute closes."""

    def __init__(self, app: Flask) -> None:
        super().__init__(name="modelgate-refusal-summaries", daemon=True)
        self.app = app
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(_until_next_window()):
            try:
                flush(self.app)
            except Exception:  # noqa: BLE001 - a bad flush must not end the thread
                log.exception("refusal summary flush failed")

    def stop(self) -> None:
        self.stopping.set()


def _until_next_window() -> float:
    # A second past the boundary, so the minute has closed on this process's clock.
    return refusals.WINDOW_SECONDS - time.time() % refusals.WINDOW_SECONDS + 1.0


def start(app: Flask) -> SummaryWriter:
    """In each server process: write summaries as minutes close, and the rest at exit."""
    writer = SummaryWriter(app)
    writer.start()
    app.extensions[WRITER] = writer
    atexit.register(stop, app)
    return writer


def stop(app: Flask) -> None:
    """A clean shutdown: no counted refusal is lost. Safe to call more than once."""
    writer = app.extensions.pop(WRITER, None)
    if writer is not None:
        writer.stop()
        writer.join(timeout=10)
    counted = flush(app, everything=True)
    if counted:
        log.info("wrote the counts of %d refused requests before stopping", counted)
