"""Who is signed in to the console: a token kept, encrypted, in the signed session cookie and
checked again on every page.

The cookie holds the API token (or the OIDC access token) the person signed in with,
encrypted with a key derived from ``SECRET_KEY`` so it cannot be read off a copied cookie and
replayed against the API. Every page turns it back into a Principal through the same
authenticator the API uses, bypassing its cache, so a revoked token or an expired OIDC
token ends the session at the next click rather than when the cookie expires.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app, flash, g, redirect, request, session, url_for

from registry.domain.errors import Unauthenticated
from registry.domain.principal import Principal
from registry.web import auth, refusals

F = TypeVar("F", bound=Callable[..., Any])

KEY = "mg_token"
NOT_SIGNED_IN = "Sign in to use the console."


def _fernet() -> Fernet:
    secret = current_app.config["SECRET_KEY"].encode()
    digest = hashlib.sha256(b"modelgate-console-session\0" + secret).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def sign_in(token: str) -> Principal:
    """Check ``token`` and start a session for its holder; Unauthenticated if it fails."""
    principal = auth.authenticate_token(token, fresh=True)
    session.clear()  # nothing from before the sign-in (an OIDC state, a flash) carries over
    session.permanent = True
    session[KEY] = _fernet().encrypt(token.encode()).decode()
    g.principal = principal
    return principal


def describe(principal: Principal) -> str:
    """Who is signed in, and the person behind the token when that is someone else's name."""
    if principal.person == principal.id:
        return principal.id
    return f"{principal.id} ({principal.person})"


def sign_out() -> None:
    session.clear()


def current() -> Principal:
    """The signed-in person, checked now; Unauthenticated when there is none any more."""
    principal = g.get("principal")
    if principal is not None:
        return principal
    sealed = session.get(KEY)
    if not sealed:
        raise Unauthenticated(NOT_SIGNED_IN)
    try:
        token = _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:  # the secret key changed since the sign-in
        session.clear()
        raise Unauthenticated("Your session has ended; sign in again.") from None
    try:
        principal = auth.authenticate_token(token, fresh=True)
    except Unauthenticated:
        session.clear()
        raise
    g.principal = principal
    return principal


def safe_next(target: str | None) -> str | None:
    """A place to return to after signing in: a path on this site, never another host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def signed_in(view: F) -> F:
    """Declare (and enforce) that a console page needs a signed-in person. Without one,
    the browser is sent to the sign-in page and brought back afterwards."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            current()
        except Unauthenticated as exc:
            if request.method not in ("GET", "HEAD"):
                refusals.note(exc)  # a form sent with a revoked or expired sign-in
            back = request.full_path.rstrip("?") if request.method == "GET" else None
            if exc.message != NOT_SIGNED_IN:  # revoked, expired: say why
                flash(exc.message, "error")
            return redirect(url_for("ui.login", next=safe_next(back)), code=303)
        return view(*args, **kwargs)

    setattr(wrapper, auth.ATTRIBUTE, auth.CONSOLE)
    return wrapper  # type: ignore[return-value]
