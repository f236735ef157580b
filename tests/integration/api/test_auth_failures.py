"""Guessing credentials: failed authentications are limited per client address, before any
credential is looked up, whatever the credential and whichever way it is presented."""

from __future__ import annotations

import base64
import secrets
import shutil
import uuid

import pytest
import redis

from registry.domain import identity
from registry.domain.principal import system
from registry.extensions import db
from tests.conftest import REDIS_URL, make_app, require_service
from tests.helpers import RegistryClient, error_code
from tests.integration.ui.console import Browser, csrf_token

LIMIT = "5 per minute"


@pytest.fixture
def limited(sqlite_template, tmp_path):
    """A registry of its own (its limiter counts from zero) allowing five failures a minute."""
    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    return make_app(f"sqlite:///{path}", AUTH_FAILURE_LIMIT=LIMIT)


def mint(app, name="pipeline", roles=("viewer",)):
    with app.app_context():
        info = identity.create_token(
            db.session, system(), name=name, roles=list(roles), owner=f"user:{name}"
        )
        db.session.commit()
    return info.token


def guess():
    """A fresh wrong token each time, as a guesser sends them."""
    return "mgt_" + secrets.token_urlsafe(32)


def from_address(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def call(client, token, path="/api/v1/models", **headers):
    return client.get(path, headers={"Authorization": f"Bearer {token}", **headers})


def test_a_flood_of_wrong_tokens_from_one_address_gets_429(limited):
    attacker = from_address(limited, "203.0.113.7")
    assert [call(attacker, guess()).status_code for _ in range(5)] == [401] * 5
    refused = call(attacker, guess())
    assert refused.status_code == 429
    assert error_code(refused) == "RATE_LIMITED"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert "failed authentications from your address" in refused.get_json()["message"]
    # Refused before the credential is looked up: even a valid token gets no answer from
    # there now, so a correct guess would not be recognised either.
    valid = mint(limited)
    assert call(attacker, valid).status_code == 429
    # Other addresses are not held back.
    assert call(from_address(limited, "198.51.100.1"), valid).status_code == 200


def test_successes_are_not_counted(limited):
    client = from_address(limited, "203.0.113.8")
    valid = mint(limited)
    assert all(call(client, valid).status_code == 200 for _ in range(20))
    assert [call(client, guess()).status_code for _ in range(5)] == [401] * 5
    assert call(client, guess()).status_code == 429


def test_every_way_of_presenting_a_credential_counts(limited):
    """Basic credentials (the MLflow client), revoked tokens, forged JWTs and bad schemes
    add up; over the limit the MLflow routes answer in MLflow's envelope."""
    client = from_address(limited, "203.0.113.9")
    revoked = mint(limited, "gone")
    with limited.app_context():
        [row] = identity.list_tokens(db.session, system(), name="gone")
        identity.revoke_token(db.session, system(), row.id)
        db.session.commit()
    basic = base64.b64encode(f"anyone:{guess()}".encode()).decode()
    statuses = [
        client.get(
            "/api/2.0/mlflow/registered-models/search", headers={"Authorization": f"Basic {basic}"}
        ).status_code,
        call(client, revoked).status_code,
        call(client, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln").status_code,
        client.get("/api/v1/models", headers={"Authorization": "Token nope"}).status_code,
        call(client, guess()).status_code,
    ]
    assert statuses == [401] * 5
    refused = client.get(
        "/api/2.0/mlflow/registered-models/search", headers={"Authorization": f"Basic {basic}"}
    )
    assert refused.status_code == 429
    assert refused.get_json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert "Retry-After" in refused.headers


def test_no_credential_is_not_a_failed_guess(limited):
    client = from_address(limited, "203.0.113.10")
    assert [client.get("/api/v1/models").status_code for _ in range(10)] == [401] * 10
    assert call(client, mint(limited)).status_code == 200


def test_the_consoles_sign_in_form_is_limited_too(limited):
    browser = Browser(limited)
    browser.client.environ_base["REMOTE_ADDR"] = "203.0.113.11"
    for _ in range(5):
        browser.sign_in(guess(), expect=401)  # the form again, saying why
    form = browser.get("/ui/login").get_data(as_text=True)
    response = browser.client.post(
        "/ui/login", data={"token": mint(limited), "csrf_token": csrf_token(form)}
    )
    assert response.status_code == 429
    assert "Too many failed authentications" in response.get_data(as_text=True)


def test_the_metrics_token_is_limited_too(sqlite_template, tmp_path):
    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", AUTH_FAILURE_LIMIT=LIMIT, METRICS_TOKEN="scrape-me")
    client = from_address(app, "203.0.113.12")
    assert [call(client, guess(), "/metrics").status_code for _ in range(5)] == [401] * 5
    assert call(client, "scrape-me", "/metrics").status_code == 429
    assert call(from_address(app, "203.0.113.13"), "scrape-me", "/metrics").status_code == 200


def test_ipv6_clients_are_counted_per_64(limited):
    for host in range(1, 6):
        assert call(from_address(limited, f"2001:db8:1:2::{host}"), guess()).status_code == 401
    assert call(from_address(limited, "2001:db8:1:2:ffff::1"), guess()).status_code == 429
    assert call(from_address(limited, "2001:db8:1:3::1"), guess()).status_code == 401


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(sqlite_template, tmp_path):
    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", AUTH_FAILURE_LIMIT=LIMIT, TRUSTED_PROXY_HOPS=1)
    ingress = from_address(app, "10.0.0.2")  # every request arrives from the proxy

    def through_proxy(client_address, token):
        return call(ingress, token, **{"X-Forwarded-For": client_address})

    assert [through_proxy("203.0.113.20", guess()).status_code for _ in range(5)] == [401] * 5
    assert through_proxy("203.0.113.20", guess()).status_code == 429
    # Another client behind the same proxy is somebody else.
    assert through_proxy("203.0.113.21", mint(app)).status_code == 200
    # A client cannot pick its address: only the entry the proxy appended is believed.
    spoofed = through_proxy("198.51.100.99, 203.0.113.20", guess())
    assert spoofed.status_code == 429


def test_without_trusted_proxies_forwarded_headers_are_ignored(limited):
    client = from_address(limited, "203.0.113.30")
    for n in range(5):
        call(client, guess(), **{"X-Forwarded-For": f"198.51.100.{n}"})
    assert call(client, guess(), **{"X-Forwarded-For": "198.51.100.77"}).status_code == 429


def test_the_limit_can_be_turned_off(sqlite_template, tmp_path):
    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", AUTH_FAILURE_LIMIT="")
    client = from_address(app, "203.0.113.40")
    assert {call(client, guess()).status_code for _ in range(40)} == {401}


@pytest.mark.postgres
def test_failures_are_counted_across_processes_through_redis(postgres_url):
    redis_url = require_service(REDIS_URL, "Redis", "MODELGATE_TEST_REDIS_URL")
    prefix = f"mgtest-{uuid.uuid4().hex[:8]}:"
    settings = {"AUTH_FAILURE_LIMIT": LIMIT, "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix}
    one, two = make_app(postgres_url, **settings), make_app(postgres_url, **settings)
    try:
        a, b = from_address(one, "203.0.113.50"), from_address(two, "203.0.113.50")
        assert [call(a, guess()).status_code for _ in range(3)] == [401] * 3
        assert [call(b, guess()).status_code for _ in range(3)] == [401, 401, 429]
        assert call(a, guess()).status_code == 429  # two app instances, one count
        keys = redis.Redis.from_url(redis_url).keys(f"{prefix}*")
        assert keys, "the counts live in Redis"
        assert not any(b"203.0.113.50" not in key for key in keys)  # addresses, not secrets
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        for app in (one, two):
            with app.app_context():
                db.engine.dispose()


@pytest.mark.postgres
def test_a_redis_outage_still_limits_guessing_in_memory(postgres_url):
    app = make_app(postgres_url, AUTH_FAILURE_LIMIT=LIMIT, REDIS_URL="redis://127.0.0.1:1/0")
    try:
        client = from_address(app, "203.0.113.60")
        assert [call(client, guess()).status_code for _ in range(5)] == [401] * 5
        assert call(client, guess()).status_code == 429
        assert RegistryClient(from_address(app, "203.0.113.61"), None).get("/healthz", expect=200)
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_token_this_process_just_verified_is_no_guess(sqlite_template, tmp_path):
    """With the per-process cache of verified callers on (the default), a pipeline's token
    verified moments ago is answered without consulting the failure counter; a token not
    yet verified from a blocked address still gets 429, so guessing gains nothing."""
    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", AUTH_FAILURE_LIMIT=LIMIT, AUTH_CACHE_SECONDS=60)
    shared = from_address(app, "203.0.113.40")  # a pipeline and a guesser behind one NAT
    pipeline, other = mint(app, "pipeline"), mint(app, "other")
    assert call(shared, pipeline).status_code == 200
    assert [call(shared, guess()).status_code for _ in range(5)] == [401] * 5
    assert call(shared, guess()).status_code == 429
    assert call(shared, pipeline).status_code == 200  # verified moments ago: no guess
    assert call(shared, other).status_code == 429  # never checked from here while blocked
