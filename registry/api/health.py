"""/healthz (the process is up) and /readyz (it can serve: database reachable, schema current)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from registry.api.http import answer
from registry.auth import public
from registry.database import current_revisions, head_revisions
from registry.extensions import db

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
    heads = head_revisions()
    checks["migrations"] = "ok" if current == heads else "behind"
    ok = all(v == "ok" for v in checks.values())
    return answer({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)
