"""Who is calling, and the permission every route declares.

Each view carries the permission it needs, set by :func:`requires` or :func:`public`, in one
place beside the route. A request hook refuses any route that declares none (deny by
default), and a test walks the URL map for the same reason. The fine-grained check (this
model, this stage) happens in the domain, which every entry point shares.

Authentication (this module's :func:`authenticate`) is deliberately the only piece that knows
how tokens look: until identity lands, the temporary rule is that when
``MODELGATE_BOOTSTRAP_TOKEN`` is set, writes need it and reads are open.
"""

from __future__ import annotations

import copy
import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from registry.domain import permissions
from registry.domain.errors import PermissionDenied, Unauthenticated
from registry.domain.permissions import Action
from registry.domain.principal import Grant, Principal, Role

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
ATTRIBUTE = "modelgate_permission"

# Routes the frameworks add themselves; declared here so nothing is reachable undeclared.
FRAMEWORK_ROUTES = {
    "static": PUBLIC,
    "api-docs.openapi_json": PUBLIC,
    "api-docs.openapi_swagger_ui": PUBLIC,
}


def _document(wrapper: Any, permission: str) -> None:
    doc = copy.deepcopy(getattr(wrapper, "_apidoc", {}))
    manual = doc.setdefault("manual_doc", {})
    manual["x-permission"] = permission
    manual["security"] = [] if permission == PUBLIC else [{"bearerAuth": []}]
    wrapper._apidoc = doc


def requires(action: Action) -> Callable[[F], F]:
    """Declare (and enforce) that a view needs ``action``. Put it outermost, above the
    smorest decorators, so a caller without a valid token is refused before parsing."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authorize(action)
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
        raise PermissionDenied("This route declares no permission, so it is refused.")


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:  # a view without @requires asked: never authorise by accident
        raise Unauthenticated("No authenticated caller.")
    return principal


def authorize(action: Action) -> Principal:
    principal = authenticate()
    g.principal = principal
    # With no model in the path, ask whether the caller may do this at all, so a viewer's
    # POST /models fails before its body is parsed; per-model checks happen in the domain.
    if "name" not in (request.view_args or {}) and action is not Action.READ:
        permissions.require(principal, action)
    return principal


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <token>'.")
    return token.strip()


_EVERYTHING = (Grant(Role.ADMIN),)
_READ_ONLY = (Grant(Role.VIEWER),)


def authenticate() -> Principal:
    """The caller under the temporary bootstrap-token rule."""
    token = bearer_token()
    expected = current_app.config.get("BOOTSTRAP_TOKEN")
    if not expected:
        return Principal(subject="anonymous", kind="user", grants=_EVERYTHING)
    if token is None:
        if request.method in ("GET", "HEAD"):
            return Principal(subject="anonymous", kind="user", grants=_READ_ONLY)
        raise Unauthenticated("This call changes the registry and needs a bearer token.")
    if not hmac.compare_digest(token.encode(), str(expected).encode()):
        raise Unauthenticated("The bearer token is not valid.")
    return Principal(subject="bootstrap", kind="service", grants=_EVERYTHING)
