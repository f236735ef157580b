"""Who is calling, and the permission every route declares.

Each view carries the permission it needs, set by :func:`requires` or :func:`public`, in one
place beside the route. A request hook refuses any route that declares none (deny by
default), and a test walks the URL map for the same reason. The fine-grained check (this
model, this stage) happens in the domain, which every entry point shares.

Authentication (:func:`authenticate`, backed by :mod:`registry.web.authentication`) turns the
bearer token into a Principal; nothing else here knows what tokens look like.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from authlib.oauth2 import OAuth2Error
from flask import current_app, g, request

from registry.domain import permissions
from registry.domain.errors import PermissionDenied, Unauthenticated
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.extensions import db
from registry.web import idempotent
from registry.web.authentication import Authenticator, resource_protector
from registry.web.guessing import counting_failures
from registry.web.observability import PRINCIPAL_ENVIRON

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
METRICS = "metrics_token"
ATTRIBUTE = "modelgate_permission"

# Routes the frameworks add themselves; declared here so nothing is reachable undeclared.
FRAMEWORK_ROUTES = {
    "static": PUBLIC,
    "api-docs.openapi_json": PUBLIC,
    "api-docs.openapi_swagger_ui": PUBLIC,
    "ui.static": PUBLIC,  # the console's stylesheet and script
}

# Console pages: the signed-in person's token, kept in the session cookie, is checked again on
# every page (registry.ui.session), and the domain makes the same checks as for the API.
CONSOLE = "console_session"


def _document(wrapper: Any, permission: str) -> None:
    doc = copy.deepcopy(getattr(wrapper, "_apidoc", {}))
    manual = doc.setdefault("manual_doc", {})
    manual["x-permission"] = permission
    manual["security"] = [] if permission == PUBLIC else [{"bearerAuth": []}]
    wrapper._apidoc = doc


def requires(action: Action, *, basic_auth: bool = False) -> Callable[[F], F]:
    """Declare (and enforce) that a view needs ``action``. Put it outermost, above the
    smorest decorators, so a caller without a valid token is refused before parsing.

    ``basic_auth`` also accepts HTTP Basic credentials whose password is the token, as MLflow
    clients send them from MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authorize(action, basic_auth=basic_auth)
            if idempotent.wanted():
                return idempotent.run(principal, lambda: view(*args, **kwargs))
            return view(*args, **kwargs)

        setattr(wrapper, ATTRIBUTE, action.value)
        _document(wrapper, action.value)
        return wrapper  # type: ignore[return-value]

    return decorator


def public(view: F) -> F:
    """Declare that a view needs no token (health checks)."""
    setattr(view, ATTRIBUTE, PUBLIC)
    _document(view, PUBLIC)
    return view


def metrics_token(view: F) -> F:
    """Declare that a view serves Prometheus: it needs the bearer token in
    MODELGATE_METRICS_TOKEN when one is set, and no token otherwise. Scrapers carry no
    Modelgate identity, so no role applies; the token is the whole check."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        expected = current_app.config["METRICS_TOKEN"]
        if expected:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            with counting_failures():  # the metrics token is guessed like any other
                if scheme.lower() != "bearer" or not hmac.compare_digest(
                    given.strip().encode(), expected.encode()
                ):
                    raise Unauthenticated(
                        "This call needs 'Authorization: Bearer <metrics token>'."
                    )
        return view(*args, **kwargs)

    setattr(wrapper, ATTRIBUTE, METRICS)
    _document(wrapper, METRICS)
    return wrapper  # type: ignore[return-value]


def declared_permission(app: Any, endpoint: str, method: str) -> str | None:
    if endpoint in FRAMEWORK_ROUTES:
        return FRAMEWORK_ROUTES[endpoint]
    view = app.view_functions.get(endpoint)
    if view is None:
        return None
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        handler = getattr(view_class, method.lower(), None)
        if handler is None and method == "HEAD":
            handler = getattr(view_class, "get", None)
        return getattr(handler, ATTRIBUTE, None) if handler is not None else PUBLIC
    return getattr(view, ATTRIBUTE, None)


def refuse_undeclared() -> None:
    """before_request: a route without a declared permission is never served."""
    if request.endpoint is None or request.method == "OPTIONS":
        return
    if declared_permission(current_app, request.endpoint, request.method) is None:
        raise PermissionDenied(
            "This route declares no permission, so it is refused.", reason="undeclared_route"
        )


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:  # a view without @requires asked: never authorise by accident
        raise Unauthenticated("No authenticated caller.")
    return principal


def authorize(action: Action, *, basic_auth: bool = False) -> Principal:
    principal = authenticate(basic_auth=basic_auth)
    g.principal = principal
    # With no model in the path, ask whether the caller may do this at all, so a viewer's
    # POST /models fails before its body is parsed; per-model checks happen in the domain.
    if "name" not in (request.view_args or {}) and action is not Action.READ:
        permissions.require(principal, action)
    return principal


def authenticate(*, basic_auth: bool = False) -> Principal:
    """The caller behind the request's bearer token (or, with ``basic_auth``, the token given
    as a Basic password); Unauthenticated when there is none or it does not verify. Deny by
    default: no route but the public ones serves without a token."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise Unauthenticated(
            "This call needs 'Authorization: Bearer <token>' (a Modelgate API token or an "
            "OIDC access token).",
            reason="missing_credentials",
        )
    scheme, _, token = header.partition(" ")
    authenticator = current_app.extensions["modelgate.authenticator"]
    if scheme.lower() == "bearer" and token.strip():
        # A token this process verified moments ago is no guess: it is answered without
        # asking the failure counter (a Redis round trip with replicas, on every resolve).
        known = authenticator.remembered(token.strip())
        if known is not None:
            _note_use(known)
            return known
    # Failures are counted per client address, and an address over the limit is refused
    # before its credential is looked up (registry.web.guessing).
    with counting_failures():
        if basic_auth and scheme.lower() == "basic":
            principal: Principal = authenticator.authenticate(db.session, _basic_password(token))
        elif scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "Authorization must be 'Bearer <token>'.", reason="malformed_credentials"
            )
        else:
            protector = current_app.extensions["modelgate.protector"]
            try:
                principal = protector.acquire_token()
            except OAuth2Error as exc:  # Authlib's own refusals (malformed header and so on)
                raise Unauthenticated(
                    exc.description or "The bearer token is not valid.",
                    reason="malformed_credentials",
                ) from None
    _note_use(principal)
    return principal


def authenticate_token(token: str, *, fresh: bool = False) -> Principal:
    """The caller behind a token the request carries some other way than in its headers (the
    console keeps it in its session); Unauthenticated when it no longer verifies. ``fresh``
    bypasses the per-process cache, so a revocation takes effect at the next page."""
    authenticator = current_app.extensions["modelgate.authenticator"]
    with counting_failures():  # the console's sign-in form is a way to guess too
        principal: Principal = authenticator.authenticate(db.session, token, fresh=fresh)
    _note_use(principal)
    return principal


def _note_use(principal: Principal) -> None:
    request.environ[PRINCIPAL_ENVIRON] = principal.id  # for the access log
    authenticator = current_app.extensions["modelgate.authenticator"]
    if principal.token_id is not None and authenticator.due_for_use_record(principal.token_id):
        g.modelgate_token_used = principal.token_id


def _basic_password(credentials: str) -> str:
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated(
            "Basic credentials must be base64 of 'user:token'.", reason="malformed_credentials"
        ) from None
    _, colon, password = decoded.partition(":")
    if not colon or not password:
        raise Unauthenticated(
            "Basic credentials need a Modelgate API token or OIDC access token as the password.",
            reason="malformed_credentials",
        )
    return password


def _record_token_use(_exc: BaseException | None) -> None:
    token_id = g.pop("modelgate_token_used", None)
    if token_id is not None:
        db.session.remove()  # end the request's transaction first (SQLite has one writer)
        current_app.extensions["modelgate.authenticator"].record_use(db.engine, token_id)


def init_app(app: Any) -> None:
    """Wire authentication: the authenticator (with its caches) and Authlib's protector."""
    app.extensions["modelgate.authenticator"] = Authenticator(app.config)
    app.extensions["modelgate.protector"] = resource_protector(
        lambda token: current_app.extensions["modelgate.authenticator"].authenticate(
            db.session, token
        )
    )
    app.before_request(refuse_undeclared)
    app.teardown_request(_record_token_use)


def forget_callers() -> None:
    """After a token or binding changes, stop trusting this process's cached callers."""
    current_app.extensions["modelgate.authenticator"].forget()
