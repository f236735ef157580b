"""The web console at /ui/: server-rendered pages over the same domain functions as the API.

Wiring only: session cookies, CSRF on the console's forms (never on the JSON API, whose
callers send bearer tokens that a browser does not add by itself), sign-in with the
identity provider when one is configured, security headers, and HTML error pages.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask, Response, make_response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, NotFound

from registry.domain.errors import DomainError
from registry.extensions import db
from registry.ui import (
    access,
    audit,
    blueprint,
    login,
    oidc,
    registered_models,
    transitions,
    webhooks,
)
from registry.web import refusals
from registry.web.errors import STATUS_BY_CODE, handle_http_exception, handle_unexpected

log = logging.getLogger("modelgate.ui")

# No inline script or style anywhere, so the policy can forbid both; htmx is told not to
# inject its indicator styles (see base.html).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}

csrf = CSRFProtect()

# The console's pages: each module adds its routes to blueprint.bp as it is imported.
PAGES = (registered_models, transitions, audit, webhooks, access, login, oidc)


def init_app(app: Flask) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="modelgate_console",
        SESSION_COOKIE_PATH="/ui",  # the API never sees it
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(app.config["CONSOLE_SECURE_COOKIES"]),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=app.config["CONSOLE_SESSION_HOURS"]),
        # CSRF is checked by the console's own hook below, not on every route of the app.
        WTF_CSRF_CHECK_DEFAULT=False,
        # Tokens live as long as the session they belong to: an approver who leaves the
        # inbox open over lunch can still approve.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=bool(app.config["CONSOLE_SECURE_COOKIES"]),
    )
    csrf.init_app(app)
    if app.config.get("OIDC_ISSUER") and app.config.get("OIDC_CLIENT_ID"):
        oauth = OAuth(app)
        app.extensions["modelgate.console_oidc"] = oidc.register(oauth, app.config)
    app.register_blueprint(blueprint.bp)
    # A URL under /ui/ that matches no route belongs to no blueprint, so the blueprint's
    # handlers never see it: answer it here, in HTML, and leave every other 404 to the API's.
    app.register_error_handler(NotFound, _not_found)


@blueprint.bp.before_request
def _protect_forms() -> None:
    if request.method == "POST":
        csrf.protect()


@blueprint.bp.after_request
def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "ui.static":
        # Pages show who may do what right now: never from a shared or back-button cache.
        response.headers["Cache-Control"] = "no-store"
    return response


def _page(title: str, message: str, status: int) -> tuple[str, int]:
    return render_template("error.html", title=title, message=message, status=status), status


@blueprint.bp.errorhandler(CSRFError)
def _csrf_refused(error: CSRFError) -> tuple[str, int]:
    return _page(
        "The form could not be accepted",
        "It carried no valid security token (it may come from another site, or from a "
        "session that has ended). Reload the page and try again.",
        400,
    )


@blueprint.bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> tuple[str, int]:
    db.session.rollback()
    refusals.note(error)
    status = STATUS_BY_CODE.get(error.code, 500)
    titles = {404: "Not found", 403: "Not allowed", 400: "Not understood"}
    return _page(titles.get(status, "Refused"), error.message, status)


@blueprint.bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    status = error.code or 500
    if status >= 500:
        return _unexpected(error)
    if status == 404:
        return _page("Not found", "There is no such page in the console.", 404)
    return _page(error.name, error.description or error.name, status)


@blueprint.bp.errorhandler(Exception)
def _unexpected(error: BaseException) -> Any:
    # Logged with the request id and rolled back exactly as for the API; only the body differs.
    status = handle_unexpected(error).status_code
    if status == 503:
        return _page("Unavailable", "The database is not reachable right now; retry shortly.", 503)
    return _page(
        "Something went wrong",
        "An unexpected error occurred; it has been logged. Try again shortly.",
        status,
    )


def _not_found(error: NotFound) -> Any:
    if request.path == "/ui" or request.path.startswith("/ui/"):
        return _secure(make_response(_http_error(error)))
    return handle_http_exception(error)
