"""Signing in to the console with the identity provider: the authorization-code flow with
PKCE (S256), through Authlib's Flask client.

The access token the provider returns is what the console keeps and checks on every page,
with the same verifier as the API's bearer tokens: it must be a JWT for this registry's
audience (``MODELGATE_OIDC_AUDIENCE``), so configure the console's client at the provider
to receive one.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import current_app, flash, redirect, render_template, request, session, url_for

from registry.domain.errors import Unauthenticated
from registry.extensions import db
from registry.ui import session as console_session
from registry.ui.blueprint import bp
from registry.web import auth
from registry.web.authentication import looks_like_jwt

NAME = "modelgate"
NEXT = "mg_next"


def register(oauth: OAuth, config: dict[str, Any]) -> Any:
    issuer = config["OIDC_ISSUER"].rstrip("/")
    return oauth.register(
        NAME,
        client_id=config["OIDC_CLIENT_ID"],
        client_secret=config.get("OIDC_CLIENT_SECRET"),
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": config["OIDC_SCOPES"], "code_challenge_method": "S256"},
    )


def _client() -> Any:
    client = current_app.extensions.get("modelgate.console_oidc")
    if client is None:
        raise Unauthenticated("No identity provider is configured; sign in with an API token.")
    return client


@bp.get("/login/oidc")
@auth.public
def oidc_start() -> Any:
    """Send the browser to the identity provider (with a PKCE challenge and a state)."""
    client = _client()
    back = console_session.safe_next(request.args.get("next"))
    response = client.authorize_redirect(url_for("ui.oidc_callback", _external=True))
    session[NEXT] = back
    return response


@bp.get("/login/callback")
@auth.public
def oidc_callback() -> Any:
    """The provider sends the browser back here with a code, traded for tokens."""
    client = _client()
    back = session.get(NEXT)
    try:
        token = client.authorize_access_token()
        access = token.get("access_token")
        if not access or not looks_like_jwt(access):
            raise Unauthenticated(
                "The identity provider returned no JWT access token; configure it to issue "
                f"them for the audience {current_app.config['OIDC_AUDIENCE']!r}."
            )
        principal = console_session.sign_in(access)
    except (OAuthError, Unauthenticated) as error:
        db.session.rollback()
        message = getattr(error, "message", None) or getattr(error, "description", None)
        return render_template(
            "login.html", error=message or str(error), next=back, oidc=client
        ), 401
    db.session.commit()
    flash(f"Signed in as {console_session.describe(principal)}.")
    return redirect(back or url_for("ui.inbox"), code=303)
