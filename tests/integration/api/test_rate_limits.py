"""Per-token rate limits: in process memory on the embedded default, in Redis otherwise."""

from __future__ import annotations

import uuid

import pytest
import redis

from registry.extensions import db
from tests.conftest import REDIS_URL, make_app, require_service
from tests.helpers import RegistryClient, error_code


def limited_app(url, **settings):
    return make_app(url, RATE_LIMIT="5 per minute", **settings)


def mint(app, name="pipeline"):
    from registry.domain import identity
    from registry.domain.principal import system

    with app.app_context():
        info = identity.create_token(db.session, system(), name=name, roles=["viewer"])
        db.session.commit()
    return info.token


def burst(client, count=7):
    return [client.get("/api/v1/models", expect=None).status_code for _ in range(count)]


def test_each_token_has_its_own_budget(sqlite_template, tmp_path):
    import shutil

    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    app = limited_app(f"sqlite:///{path}")
    first = RegistryClient(app.test_client(), mint(app, "one"))
    second = RegistryClient(app.test_client(), mint(app, "two"))

    assert burst(first) == [200] * 5 + [429] * 2
    refused = first.get("/api/v1/models", expect=429)
    assert error_code(refused) == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert burst(second, 5) == [200] * 5  # another token is not held back
    assert app.test_client().get("/healthz").status_code == 200  # never limited
    for _ in range(10):
        assert app.test_client().get("/readyz").status_code == 200


@pytest.mark.postgres
def test_the_budget_is_shared_across_processes_through_redis(postgres_url):
    redis_url = require_service(REDIS_URL, "Redis", "MODELGATE_TEST_REDIS_URL")
    prefix = f"mgtest-{uuid.uuid4().hex[:8]}:"
    one = limited_app(postgres_url, REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix)
    two = limited_app(postgres_url, REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix)
    token = mint(one, f"shared-{uuid.uuid4().hex[:8]}")
    try:
        a = RegistryClient(one.test_client(), token)
        b = RegistryClient(two.test_client(), token)
        assert burst(a, 3) == [200] * 3
        assert burst(b, 3) == [200, 200, 429]  # two app instances, one budget
        keys = redis.Redis.from_url(redis_url).keys(f"{prefix}*")
        assert keys, "the counts live in Redis"
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        for app in (one, two):
            with app.app_context():
                db.engine.dispose()


@pytest.mark.postgres
def test_a_redis_outage_does_not_stop_the_api(postgres_url):
    dead = "redis://127.0.0.1:1/0"  # nothing listens there
    app = limited_app(postgres_url, REDIS_URL=dead)
    client = RegistryClient(app.test_client(), mint(app, f"outage-{uuid.uuid4().hex[:6]}"))
    try:
        # Counted in memory meanwhile: still served, still limited.
        assert burst(client) == [200] * 5 + [429] * 2
    finally:
        with app.app_context():
            db.engine.dispose()
