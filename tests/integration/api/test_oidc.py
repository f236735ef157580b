"""OIDC access tokens, verified against a real (local) identity provider's JWKS endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from registry.web.authentication import Authenticator
from tests.helpers import RegistryClient, error_code

AUDIENCE = "modelgate"


class IdentityProvider:
    """Serves an OIDC discovery document and a JWKS over real HTTP, and mints tokens."""

    def __init__(self) -> None:
        self.keys = [
            RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "alg": "RS256"}),
            ECKey.generate_key("P-256", parameters={"kid": "ec-1", "alg": "ES256"}),
        ]
        self.jwks_fetches = 0
        # The token endpoint, for the console's sign-in tests: form -> (status, JSON body).
        self.exchange: Callable[[dict[str, str]], tuple[int, Any]] | None = None
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/.well-known/openid-configuration":
                    body = {
                        "issuer": provider.issuer,
                        "jwks_uri": f"{provider.issuer}/jwks",
                        "authorization_endpoint": f"{provider.issuer}/authorize",
                        "token_endpoint": f"{provider.issuer}/token",
                    }
                elif self.path == "/jwks":
                    provider.jwks_fetches += 1
                    body = KeySet(provider.keys).as_dict(private=False)
                else:
                    self.send_error(404)
                    return
                self.answer(200, body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                if self.path != "/token" or provider.exchange is None:
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length", 0))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                self.answer(*provider.exchange(form))

            def answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def token(self, key: Any = None, alg: str = "RS256", **claims: Any) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "alice",
            "iat": now,
            "exp": now + 300,
            "groups": ["ml-leads"],
            "roles": [],
        }
        body.update(claims)
        return jwt.encode(
            {"alg": alg, "kid": key.kid}, {k: v for k, v in body.items() if v is not None}, key
        )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def idp(app):
    provider = IdentityProvider()
    saved = app.extensions["modelgate.authenticator"]
    app.extensions["modelgate.authenticator"] = Authenticator(
        {
            **app.config,
            "OIDC_ISSUER": provider.issuer,
            "OIDC_AUDIENCE": AUDIENCE,
            "OIDC_JWKS_URL": None,
        }
    )
    yield provider
    app.extensions["modelgate.authenticator"] = saved
    provider.stop()


def me(client, token, expect=200):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), expect


def call(client, token, path="/api/v1/me"):
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_is_a_user_with_groups_and_claimed_roles(client, idp):
    response = call(client, idp.token(roles=["contributor", "not-a-modelgate-role"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {
        "subject": "alice",
        "kind": "user",
        "person": "user:alice",  # people from the identity provider are their subject
        "roles": ["contributor"],
        "groups": ["ml-leads"],
        "grants": [{"role": "contributor", "model_pattern": "*", "stages": None}],
    }


def test_group_bindings_apply_to_members(client, idp, registry):
    registry.post(
        "/api/v1/role-bindings",
        {"subject": "group:ml-leads", "role": "approver", "stages": ["Production"]},
        expect=201,
    )
    registry.post(
        "/api/v1/role-bindings",
        {"subject": "user:alice", "role": "viewer", "model_pattern": "fraud"},
        expect=201,
    )
    grants = call(client, idp.token()).get_json()["grants"]
    assert {"role": "approver", "model_pattern": "*", "stages": ["Production"]} in grants
    assert {"role": "viewer", "model_pattern": "fraud", "stages": None} in grants
    nobody = call(client, idp.token(sub="bob", groups=[])).get_json()
    assert nobody["grants"] == []


def test_es256_is_accepted(client, idp):
    assert call(client, idp.token(key=idp.keys[1], alg="ES256")).status_code == 200


def test_a_user_without_roles_is_authenticated_but_denied(client, idp):
    response = call(client, idp.token(sub="nobody", groups=[]), "/api/v1/models")
    assert response.status_code == 200  # listing filters to what the caller may read
    assert response.get_json()["models"] == []
    created = client.post(
        "/api/v1/models",
        json={"name": "x"},
        headers={"Authorization": f"Bearer {idp.token(groups=[])}"},
    )
    assert created.status_code == 403


@pytest.mark.parametrize(
    ("claims", "fragment"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"aud": "another-service"}, "meant for"),
        ({"aud": ["another-service", "yet-another"]}, "meant for"),
        ({"iss": "https://evil.example.com"}, "issued by"),
        ({"exp": None}, "exp"),
        ({"sub": None}, "'sub'"),
    ],
)
def test_invalid_claims_are_refused_with_a_reason(client, idp, claims, fragment):
    response = call(client, idp.token(**claims))
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHENTICATED"
    assert fragment in response.get_json()["message"], response.get_json()


def test_small_clock_skew_is_tolerated(client, idp):
    now = int(time.time())
    assert call(client, idp.token(exp=now - 30, nbf=now + 30)).status_code == 200
    assert call(client, idp.token(aud=["other", AUDIENCE])).status_code == 200


def test_a_forged_signature_is_refused(client, idp):
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})  # same kid, other key
    response = call(client, idp.token(key=impostor))
    assert response.status_code == 401
    assert "signature does not verify" in response.get_json()["message"]


def test_unsigned_tokens_are_refused(client, idp):
    header = b64(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
    claims = b64(
        json.dumps(
            {"iss": idp.issuer, "aud": AUDIENCE, "sub": "alice", "exp": int(time.time()) + 300}
        ).encode()
    )
    response = call(client, f"{header}.{claims}.")
    assert response.status_code == 401
    assert "'none' are not accepted" in response.get_json()["message"]


def test_hmac_with_the_public_key_as_secret_is_refused(client, idp):
    """The classic confusion: sign HS256 with the (public) RSA key as the HMAC secret."""
    public_pem = idp.keys[0].as_pem(private=False)
    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode())
    claims = b64(
        json.dumps(
            {
                "iss": idp.issuer,
                "aud": AUDIENCE,
                "sub": "mallory",
                "exp": int(time.time()) + 300,
                "roles": ["admin"],
            }
        ).encode()
    )
    signature = b64(hmac.new(public_pem, f"{header}.{claims}".encode(), hashlib.sha256).digest())
    response = call(client, f"{header}.{claims}.{signature}")
    assert response.status_code == 401
    assert "'HS256' are not accepted" in response.get_json()["message"]


def test_keys_are_cached_and_refetched_when_the_provider_rotates(client, idp):
    assert call(client, idp.token()).status_code == 200
    assert call(client, idp.token(sub="bob")).status_code == 200
    assert idp.jwks_fetches == 1  # cached
    rotated = RSAKey.generate_key(2048, parameters={"kid": "rsa-2", "alg": "RS256"})
    idp.keys.append(rotated)
    authenticator = client.application.extensions["modelgate.authenticator"]
    authenticator.oidc.jwks._fetched_at -= 60  # past the minimum refresh interval
    assert call(client, idp.token(key=rotated)).status_code == 200
    assert idp.jwks_fetches == 2


def test_an_unpublished_key_is_refused_and_cannot_force_refetches(client, idp):
    assert call(client, idp.token()).status_code == 200
    stranger = RSAKey.generate_key(2048, parameters={"kid": "who-knows"})
    for _ in range(5):
        response = call(client, idp.token(key=stranger))
        assert response.status_code == 401
        assert "does not publish" in response.get_json()["message"]
    assert idp.jwks_fetches == 1  # within the refresh interval: no fetch per bad token


def test_an_unreachable_provider_means_unverifiable_tokens(client, idp):
    token = idp.token()
    idp.stop()
    response = call(client, token)
    assert response.status_code == 401
    assert "signing keys are unavailable" in response.get_json()["message"]


def test_oidc_users_act_with_their_grants(client, idp, registry):
    registry.create_model("fraud")
    registry.post(
        "/api/v1/role-bindings", {"subject": "group:ml-leads", "role": "contributor"}, expect=201
    )
    user = RegistryClient(client, idp.token())
    created = user.create_version("fraud")
    assert created["created_by"] == "user:alice"


def test_refused_oidc_callers_are_on_the_record_only_by_verified_claims(client, idp, registry):
    expired = idp.token(exp=int(time.time()) - 3600)
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    forged = idp.token(key=impostor, sub="the-ceo")
    for token in (expired, forged, idp.token(groups=[])):
        response = client.post(
            "/api/v1/models", json={"name": "x"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code in (401, 403)

    events = registry.get("/api/v1/audit", query_string={"event": "access.denied"}).get_json()
    found = [(e["actor"], e["data"]["reason"]) for e in events["events"]]
    # Expired but signed by the provider: whose it was is known. Forged: nobody's word counts.
    assert found == [
        ("user:alice", "expired_token"),
        ("anonymous", "invalid_credentials"),
        ("user:alice", "role"),
    ]
    assert "the-ceo" not in json.dumps(events)


@pytest.mark.parametrize(
    "part",
    [
        pytest.param("header", id="header"),
        pytest.param("header-field", id="header-field"),
        pytest.param("claims", id="claims"),
    ],
)
def test_a_token_of_deeply_nested_json_is_refused_not_a_500(client, idp, part):
    deep = b"[" * 3000 + b"]" * 3000  # fits in one header line (gunicorn allows 8 KiB)
    header = b64(json.dumps({"alg": "RS256", "kid": "rsa-1"}).encode())
    claims = b64(json.dumps({"iss": idp.issuer, "aud": AUDIENCE, "sub": "alice"}).encode())
    if part == "header":
        header = b64(deep)
    elif part == "header-field":
        header = b64(b'{"alg": "RS256", "kid": "rsa-1", "x": ' + deep + b"}")
    else:
        claims = b64(deep)
    response = call(client, f"{header}.{claims}.{b64(b'signature')}")
    assert response.status_code == 401
    assert response.get_json()["error_code"] == "UNAUTHENTICATED"
