"""Signing in to the console through an identity provider: authorization code with PKCE,
against a real (local) provider that checks the verifier and mints real tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from registry.extensions import db
from tests.conftest import make_app
from tests.integration.api.test_oidc import AUDIENCE, IdentityProvider
from tests.integration.ui.console import Browser

CLIENT_ID = "modelgate-console"


class Provider(IdentityProvider):
    """The local identity provider, with an authorization server's two halves: the person
    "logs in" (:meth:`authorize`, standing in for its login page) and the console trades the
    code for tokens at /token, where the PKCE verifier must match the challenge."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: dict[str, dict[str, Any]] = {}
        self.access_claims: dict[str, Any] = {}
        self.verified: list[str] = []
        self.exchange = self._exchange

    def authorize(self, url: str, subject: str = "alice") -> str:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert query["code_challenge_method"] == "S256"
        assert query["client_id"] == CLIENT_ID
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**query, "sub": subject}
        return f"{query['redirect_uri']}?code={code}&state={query['state']}"

    def _exchange(self, form: dict[str, str]) -> tuple[int, Any]:
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return 400, {"error": "invalid_grant"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE check failed"}
        self.verified.append(grant["sub"])
        claims = {"sub": grant["sub"], "roles": ["approver"], **self.access_claims}
        return 200, {
            "token_type": "Bearer",
            "expires_in": 300,
            "access_token": self.token(**claims),
            "id_token": self.token(aud=CLIENT_ID, sub=grant["sub"], nonce=grant.get("nonce")),
        }


@pytest.fixture
def provider() -> Any:
    idp = Provider()
    yield idp
    idp.stop()


@pytest.fixture
def oidc_app(provider: Provider, sqlite_template: Path, tmp_path: Path) -> Any:
    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    app = make_app(
        f"sqlite:///{path}",
        OIDC_ISSUER=provider.issuer,
        OIDC_AUDIENCE=AUDIENCE,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET="console-secret",
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def start(browser: Browser, next_page: str | None = None) -> str:
    page = browser.page("/ui/login")
    assert "Sign in with your identity provider" in page
    assert 'name="token"' not in page  # no token form when people sign in at the provider
    response = browser.get(
        "/ui/login/oidc" + (f"?next={next_page}" if next_page else ""), expect=302
    )
    return response.headers["Location"]


def local(url: str) -> str:
    """The path and query of a URL on the app (the test client takes no host)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_people_sign_in_at_the_provider_with_pkce(oidc_app, provider):
    browser = Browser(oidc_app)
    location = start(browser, "/ui/models")
    assert location.startswith(f"{provider.issuer}/authorize?")
    callback = provider.authorize(location)
    response = browser.get(local(callback), 303)
    assert response.headers["Location"] == "/ui/models"
    assert provider.verified == ["alice"]
    page = browser.page("/ui/inbox")
    assert "user:alice" in page


def test_a_forged_state_is_refused(oidc_app, provider):
    browser = Browser(oidc_app)
    callback = provider.authorize(start(browser))
    response = browser.get(f"{urlsplit(callback).path}?code=x&state=forged", expect=401)
    assert "state" in response.get_data(as_text=True).lower()
    browser.get("/ui/inbox", expect=303)


def test_an_access_token_for_another_audience_is_refused(oidc_app, provider):
    provider.access_claims = {"aud": "someone-else"}
    browser = Browser(oidc_app)
    callback = provider.authorize(start(browser))
    response = browser.get(local(callback), expect=401)
    assert "not for this registry" in response.get_data(as_text=True)
    browser.get("/ui/inbox", expect=303)


def test_without_a_provider_there_is_no_oidc_route_to_follow(app, tokens):
    Browser(app).get("/ui/login/oidc", expect=401)
