"""API tokens, role bindings and /me through the HTTP API, with real tokens."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from registry.domain import identity
from registry.extensions import db
from registry.orm import ApiToken, AuditEvent
from tests.helpers import RegistryClient, error_code


def test_no_token_is_401_everywhere_but_the_public_routes(client):
    for path in (
        "/api/v1/models",
        "/api/v1/me",
        "/api/v1/resolve?uri=models:/m/1",
        "/api/v1/tokens",
        "/api/v1/transition-requests",
    ):
        response = client.get(path)
        assert response.status_code == 401, path
        assert error_code(response) == "UNAUTHENTICATED"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("Bearer mgt_not-a-real-token-at-all-0000000000000000000", "not known"),
        ("Basic YWRtaW46c2VjcmV0", "Bearer"),
        ("Bearer", "Bearer"),
        ("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "accepts no OIDC tokens"),
    ],
)
def test_bad_tokens_are_401_with_a_reason(client, header, fragment):
    response = client.get("/api/v1/models", headers={"Authorization": header})
    assert response.status_code == 401
    assert fragment in response.get_json()["message"]


def test_me_shows_a_service_account_and_its_grants(client, tokens):
    token = tokens("approver", model_pattern="fraud-*", stages=["Production"], name="lead")
    me = RegistryClient(client, token).get("/api/v1/me").get_json()
    assert me == {
        "subject": "lead",
        "kind": "service",
        "person": "user:lead",  # the owner the operator gave it
        "roles": ["approver"],
        "groups": [],
        "grants": [{"role": "approver", "model_pattern": "fraud-*", "stages": ["Production"]}],
    }


def test_a_token_secret_is_shown_once_and_stored_hashed(app, registry):
    created = registry.post(
        "/api/v1/tokens", {"name": "deploy", "roles": ["viewer"]}, expect=201
    ).get_json()
    secret = created["token"]
    assert secret.startswith("mgt_")
    assert len(secret) == 47
    assert created["prefix"] == secret[:8]  # mgt_ and four characters: recognisable, no more
    listed = registry.get("/api/v1/tokens").get_json()["tokens"]
    assert all("token" not in t or t["token"] is None for t in listed)
    with app.app_context():
        stored = db.session.execute(
            sa.select(ApiToken).where(ApiToken.id == created["id"])
        ).scalar_one()
        assert secret not in (stored.token_hash, stored.prefix)
        assert len(stored.token_hash) == 64
    assert (
        RegistryClient(registry.client, secret).get("/api/v1/me").get_json()["subject"] == "deploy"
    )


def test_revoked_and_expired_tokens_are_refused(app, registry, tokens, client):
    created = registry.post(
        "/api/v1/tokens", {"name": "ci", "roles": ["viewer"]}, expect=201
    ).get_json()
    user = RegistryClient(client, created["token"])
    user.get("/api/v1/models")
    registry.delete(f"/api/v1/tokens/{created['id']}", expect=204)
    response = user.get("/api/v1/models", expect=401)
    assert "revoked" in response.get_json()["message"]
    assert error_code(registry.delete(f"/api/v1/tokens/{created['id']}", expect=404)) == "NOT_FOUND"
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    expiring = tokens("viewer", expires_at=soon)
    RegistryClient(client, expiring).get("/api/v1/models")
    with app.app_context():  # let it expire without sleeping: move its expiry into the past
        db.session.execute(
            sa.update(ApiToken)
            .where(ApiToken.token_hash == identity.hash_token(expiring))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        db.session.commit()
    response = RegistryClient(client, expiring).get("/api/v1/models", expect=401)
    assert "expired" in response.get_json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "roles": []}, "roles"),
        ({"name": "x", "roles": ["wizard"]}, "roles"),
        ({"name": "bad name", "roles": ["viewer"]}, "name"),
        ({"name": "x", "roles": ["viewer"], "stages": ["Production"]}, "stages"),
        ({"name": "x", "roles": ["viewer"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "roles": ["viewer"], "model_pattern": ""}, "model_pattern"),
    ],
)
def test_token_creation_validates(registry, body, field):
    response = registry.post("/api/v1/tokens", body, expect=None)
    assert response.status_code in (400, 422)
    assert error_code(response) == "INVALID_ARGUMENT"
    details = response.get_json().get("details", {})
    assert field in str(details)


def test_role_bindings_grant_and_take_away(client, registry, tokens):
    registry.create_model("fraud")
    service = RegistryClient(client, tokens("viewer", name="etl", model_pattern="nothing"))
    assert error_code(service.get("/api/v1/models/fraud", expect=404)) == "NOT_FOUND"
    binding = registry.post(
        "/api/v1/role-bindings",
        {"subject": "service:etl", "role": "contributor", "model_pattern": "fraud"},
        expect=201,
    ).get_json()
    assert service.get("/api/v1/models/fraud").get_json()["name"] == "fraud"
    service.create_version("fraud")
    listed = registry.get("/api/v1/role-bindings?subject=service:etl").get_json()
    assert [b["id"] for b in listed["role_bindings"]] == [binding["id"]]
    assert registry.get("/api/v1/role-bindings?model=churn").get_json()["role_bindings"] == []
    duplicate = registry.post(
        "/api/v1/role-bindings",
        {"subject": "service:etl", "role": "contributor", "model_pattern": "fraud"},
        expect=409,
    )
    assert error_code(duplicate) == "ALREADY_EXISTS"
    registry.delete(f"/api/v1/role-bindings/{binding['id']}", expect=204)
    assert error_code(service.get("/api/v1/models/fraud", expect=404)) == "NOT_FOUND"


@pytest.mark.parametrize("subject", ["alice", "user:", "robot:x", "group: "])
def test_binding_subjects_are_checked(registry, subject):
    response = registry.post(
        "/api/v1/role-bindings", {"subject": subject, "role": "viewer"}, expect=400
    )
    assert error_code(response) == "INVALID_ARGUMENT"


def test_models_outside_a_tokens_pattern_are_invisible(client, registry, tokens):
    registry.create_model("fraud-eu")
    registry.create_model("churn")
    scoped = RegistryClient(client, tokens("contributor", model_pattern="fraud-*"))
    assert [m["name"] for m in scoped.get("/api/v1/models").get_json()["models"]] == ["fraud-eu"]
    for path in (
        "/api/v1/models/churn",
        "/api/v1/models/churn/versions",
        "/api/v1/resolve?uri=models:/churn/latest",
    ):
        assert error_code(scoped.get(path, expect=404)) == "NOT_FOUND", path
    assert (
        error_code(scoped.post("/api/v1/models/churn/versions", {"source": "s3://b/k"}, expect=404))
        == "NOT_FOUND"
    )
    assert (
        error_code(scoped.post("/api/v1/models", {"name": "churn-2"}, expect=403))
        == "PERMISSION_DENIED"
    )
    scoped.create_model("fraud-us")


def test_token_and_binding_changes_are_audited(app, registry):
    created = registry.post(
        "/api/v1/tokens", {"name": "audited", "roles": ["viewer"]}, expect=201
    ).get_json()
    registry.delete(f"/api/v1/tokens/{created['id']}", expect=204)
    binding = registry.post(
        "/api/v1/role-bindings", {"subject": "group:leads", "role": "approver"}, expect=201
    ).get_json()
    registry.delete(f"/api/v1/role-bindings/{binding['id']}", expect=204)
    with app.app_context():
        rows = db.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
    tail = [(r.event, r.actor) for r in rows[-4:]]
    assert tail == [
        ("token.created", "service:admin"),
        ("token.revoked", "service:admin"),
        ("role_binding.created", "service:admin"),
        ("role_binding.deleted", "service:admin"),
    ]
    assert created["token"] not in str([r.data for r in rows])


def test_last_used_is_recorded(app, client, tokens):
    token = tokens("viewer", name="reader")
    RegistryClient(client, token).get("/api/v1/models")
    with app.app_context():
        used = db.session.execute(
            sa.select(ApiToken.last_used_at).where(ApiToken.name == "reader")
        ).scalar_one()
    assert used is not None


def test_the_caller_cache_forgets_on_revocation(app, client, registry):
    authenticator = app.extensions["modelgate.authenticator"]
    authenticator.cache_seconds = 60
    try:
        created = registry.post(
            "/api/v1/tokens", {"name": "cached", "roles": ["viewer"]}, expect=201
        ).get_json()
        user = RegistryClient(client, created["token"])
        user.get("/api/v1/models")
        with app.app_context():  # behind the API's back: the cache still vouches for it
            db.session.execute(
                sa.update(ApiToken)
                .where(ApiToken.id == created["id"])
                .values(revoked_at=dt.datetime.now(dt.UTC))
            )
            db.session.commit()
        user.get("/api/v1/models", expect=200)
        authenticator.forget()
        user.get("/api/v1/models", expect=401)
        other = registry.post(
            "/api/v1/tokens", {"name": "cached2", "roles": ["viewer"]}, expect=201
        ).get_json()
        RegistryClient(client, other["token"]).get("/api/v1/models")
        registry.delete(f"/api/v1/tokens/{other['id']}", expect=204)  # the API forgets at once
        RegistryClient(client, other["token"]).get("/api/v1/models", expect=401)
    finally:
        authenticator.cache_seconds = 0
        authenticator.forget()
