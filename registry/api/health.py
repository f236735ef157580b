"""Operations: /healthz (the process is up), /readyz (it can serve: database reachable, schema
at this code's head or ahead of it) and /metrics (Prometheus text; see registry.web.metrics)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from flask.typing import ResponseReturnValue

from registry.api.http import answer
from registry.database import current_revisions, head_revisions, known_revisions
from registry.extensions import db
from registry.web import metrics as figures
from registry.web.auth import metrics_token, public

blp = Blueprint("health", __name__)


@blp.get("/healthz")
@public
def healthz() -> Response:
    return answer({"status": "ok"})


@blp.get("/readyz")
@public
def readyz() -> Response:
    checks: dict[str, str] = {}
    try:
        current = current_revisions(db.session)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported as such
        current_app.logger.warning("readiness: database check failed: %s", exc)
        db.session.rollback()
        return answer({"status": "unavailable", "checks": {"database": "unreachable"}}, 503)
    if current == head_revisions():
        checks["migrations"] = "ok"
    elif current and not current <= known_revisions():
        # A newer release has migrated (its pre-upgrade job runs before its pods start):
        # this pod keeps serving until the rollout replaces it, as migrations keep the
        # previous release working (expand first, contract a release later).
        checks["migrations"] = "ahead"
    else:
        checks["migrations"] = "behind"
    ok = all(v in ("ok", "ahead") for v in checks.values())
    return answer({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)


@blp.get("/metrics")
@metrics_token
def metrics() -> ResponseReturnValue:
    return figures.respond()
