"""Every route x every role: allowed where the declared permission says so, 403 where not,
401 without a token. A route added without a sample here fails the completeness test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from registry.domain.permissions import ROLE_ACTIONS, Action
from registry.domain.principal import Role
from tests.conftest import DEFAULT_POLICIES
from tests.helpers import RegistryClient

ROLES = [None, *(r.value for r in Role)]


@dataclass
class World:
    """A registry with something for every route to act on."""

    admin: RegistryClient
    requester: RegistryClient
    ids: dict[str, int]


def build_world(
    registry: RegistryClient, tokens: Any, client: Any, acting: RegistryClient, role: str | None
) -> World:
    registry.create_model("fraud", tags={"team": "risk"})
    for _ in range(3):
        registry.create_version("fraud", tags={"k": "v"})
    # dev-* aliases are free under the defaults, so the alias routes show their declared
    # permission here; what the alias rules add is tested in test_alias_rules.py.
    registry.put("/api/v1/models/fraud/aliases/dev-champion", {"version": 1})
    requester = RegistryClient(client, tokens("contributor", name="requester"))
    # A pending request into Staging (approvable by approvers and admins under the defaults);
    # filed by the acting caller when it may, so "cancel" is its own request.
    may_request = role is not None and Action.REQUEST_TRANSITION in ROLE_ACTIONS[Role(role)]
    filer = acting if may_request else requester
    pending = filer.post(
        "/api/v1/models/fraud/versions/2/transitions", {"to_stage": "Staging"}, expect=201
    ).get_json()
    token = registry.post(
        "/api/v1/tokens", {"name": "victim", "roles": ["viewer"]}, expect=201
    ).get_json()
    binding = registry.post(
        "/api/v1/role-bindings", {"subject": "user:x", "role": "viewer"}, expect=201
    ).get_json()
    # Grants of approver power awaiting a second admin: made by another admin than the
    # registry's, so that one may approve them.
    deputy = RegistryClient(client, tokens("admin", name="deputy"))
    pending_token = deputy.post(
        "/api/v1/tokens", {"name": "candidate", "roles": ["approver"]}, expect=201
    ).get_json()
    pending_binding = deputy.post(
        "/api/v1/role-bindings", {"subject": "user:y", "role": "approver"}, expect=201
    ).get_json()
    assert (pending_token["state"], pending_binding["state"]) == ("pending", "pending")
    webhook = registry.post(
        "/api/v1/webhooks", {"url": "https://hooks.example.com/in", "events": ["*"]}, expect=201
    ).get_json()
    delivery = registry.post(f"/api/v1/webhooks/{webhook['id']}/test", expect=202).get_json()
    return World(
        registry,
        requester,
        {
            "request": pending["id"],
            "token": token["id"],
            "binding": binding["id"],
            "pending_token": pending_token["id"],
            "pending_binding": pending_binding["id"],
            "webhook": webhook["id"],
            "delivery": delivery["delivery_id"],
        },
    )


# (method, OpenAPI path) -> request: (path, json body or None)
SAMPLES: dict[tuple[str, str], Any] = {
    ("get", "/api/v1/models"): lambda w: ("/api/v1/models", None),
    ("post", "/api/v1/models"): lambda w: ("/api/v1/models", {"name": "new-model"}),
    ("get", "/api/v1/models/{name}"): lambda w: ("/api/v1/models/fraud", None),
    ("patch", "/api/v1/models/{name}"): lambda w: ("/api/v1/models/fraud", {"description": "d"}),
    ("delete", "/api/v1/models/{name}"): lambda w: ("/api/v1/models/fraud", None),
    ("put", "/api/v1/models/{name}/tags/{key}"): lambda w: (
        "/api/v1/models/fraud/tags/a",
        {"value": "b"},
    ),
    ("delete", "/api/v1/models/{name}/tags/{key}"): lambda w: (
        "/api/v1/models/fraud/tags/team",
        None,
    ),
    ("put", "/api/v1/models/{name}/aliases/{alias}"): lambda w: (
        "/api/v1/models/fraud/aliases/dev-challenger",
        {"version": 2},
    ),
    ("delete", "/api/v1/models/{name}/aliases/{alias}"): lambda w: (
        "/api/v1/models/fraud/aliases/dev-champion",
        None,
    ),
    ("get", "/api/v1/models/{name}/versions"): lambda w: ("/api/v1/models/fraud/versions", None),
    ("post", "/api/v1/models/{name}/versions"): lambda w: (
        "/api/v1/models/fraud/versions",
        {"source": "s3://b/k"},
    ),
    ("get", "/api/v1/models/{name}/versions/{version}"): lambda w: (
        "/api/v1/models/fraud/versions/1",
        None,
    ),
    ("patch", "/api/v1/models/{name}/versions/{version}"): lambda w: (
        "/api/v1/models/fraud/versions/1",
        {"description": "d"},
    ),
    ("delete", "/api/v1/models/{name}/versions/{version}"): lambda w: (
        "/api/v1/models/fraud/versions/3",
        None,
    ),
    ("put", "/api/v1/models/{name}/versions/{version}/tags/{key}"): lambda w: (
        "/api/v1/models/fraud/versions/1/tags/a",
        {"value": "b"},
    ),
    ("delete", "/api/v1/models/{name}/versions/{version}/tags/{key}"): lambda w: (
        "/api/v1/models/fraud/versions/1/tags/k",
        None,
    ),
    ("get", "/api/v1/models/{name}/versions/{version}/manifest"): lambda w: (
        "/api/v1/models/fraud/versions/1/manifest",
        None,
    ),
    ("post", "/api/v1/models/{name}/versions/{version}/transitions"): lambda w: (
        "/api/v1/models/fraud/versions/3/transitions",
        {"to_stage": "Archived"},
    ),
    ("get", "/api/v1/models/{name}/versions/{version}/comments"): lambda w: (
        "/api/v1/models/fraud/versions/1/comments",
        None,
    ),
    ("post", "/api/v1/models/{name}/versions/{version}/comments"): lambda w: (
        "/api/v1/models/fraud/versions/1/comments",
        {"text": "hello"},
    ),
    ("get", "/api/v1/transition-requests"): lambda w: ("/api/v1/transition-requests", None),
    ("get", "/api/v1/transition-requests/{request_id}"): lambda w: (
        f"/api/v1/transition-requests/{w.ids['request']}",
        None,
    ),
    ("post", "/api/v1/transition-requests/{request_id}/approve"): lambda w: (
        f"/api/v1/transition-requests/{w.ids['request']}/approve",
        {},
    ),
    ("post", "/api/v1/transition-requests/{request_id}/reject"): lambda w: (
        f"/api/v1/transition-requests/{w.ids['request']}/reject",
        {},
    ),
    ("post", "/api/v1/transition-requests/{request_id}/cancel"): lambda w: (
        f"/api/v1/transition-requests/{w.ids['request']}/cancel",
        {},
    ),
    ("get", "/api/v1/policies"): lambda w: ("/api/v1/policies", None),
    ("post", "/api/v1/policies/evaluate"): lambda w: (
        "/api/v1/policies/evaluate",
        {"name": "fraud", "version": 1, "to_stage": "Staging"},
    ),
    ("get", "/api/v1/resolve"): lambda w: ("/api/v1/resolve?uri=models:/fraud/1", None),
    ("get", "/api/v1/me"): lambda w: ("/api/v1/me", None),
    ("get", "/api/v1/audit"): lambda w: ("/api/v1/audit", None),
    ("get", "/api/v1/audit/export"): lambda w: ("/api/v1/audit/export?format=csv", None),
    ("get", "/api/v1/audit/verify"): lambda w: ("/api/v1/audit/verify", None),
    ("post", "/api/v1/audit/verify"): lambda w: (
        "/api/v1/audit/verify",
        {"seq": 1, "hash": "0" * 64, "at": "2026-01-01T00:00:00Z", "key_id": "k", "signature": "s"},
    ),
    ("get", "/api/v1/audit/checkpoint"): lambda w: ("/api/v1/audit/checkpoint", None),
    ("get", "/api/v1/audit/checkpoint-keys"): lambda w: ("/api/v1/audit/checkpoint-keys", None),
    ("get", "/api/v1/models/{name}/stage-history"): lambda w: (
        "/api/v1/models/fraud/stage-history",
        None,
    ),
    ("get", "/api/v1/tokens"): lambda w: ("/api/v1/tokens", None),
    ("post", "/api/v1/tokens"): lambda w: ("/api/v1/tokens", {"name": "t", "roles": ["viewer"]}),
    ("delete", "/api/v1/tokens/{token_id}"): lambda w: (f"/api/v1/tokens/{w.ids['token']}", None),
    ("post", "/api/v1/tokens/{token_id}/approve"): lambda w: (
        f"/api/v1/tokens/{w.ids['pending_token']}/approve",
        None,
    ),
    ("get", "/api/v1/role-bindings"): lambda w: ("/api/v1/role-bindings", None),
    ("post", "/api/v1/role-bindings/{binding_id}/approve"): lambda w: (
        f"/api/v1/role-bindings/{w.ids['pending_binding']}/approve",
        None,
    ),
    ("post", "/api/v1/role-bindings"): lambda w: (
        "/api/v1/role-bindings",
        {"subject": "group:g", "role": "viewer"},
    ),
    ("delete", "/api/v1/role-bindings/{binding_id}"): lambda w: (
        f"/api/v1/role-bindings/{w.ids['binding']}",
        None,
    ),
    ("get", "/api/v1/webhooks"): lambda w: ("/api/v1/webhooks", None),
    ("post", "/api/v1/webhooks"): lambda w: (
        "/api/v1/webhooks",
        {"url": "https://hooks.example.com/new", "events": ["model.*"]},
    ),
    ("get", "/api/v1/webhooks/{webhook_id}"): lambda w: (
        f"/api/v1/webhooks/{w.ids['webhook']}",
        None,
    ),
    ("patch", "/api/v1/webhooks/{webhook_id}"): lambda w: (
        f"/api/v1/webhooks/{w.ids['webhook']}",
        {"description": "d"},
    ),
    ("delete", "/api/v1/webhooks/{webhook_id}"): lambda w: (
        f"/api/v1/webhooks/{w.ids['webhook']}",
        None,
    ),
    ("post", "/api/v1/webhooks/{webhook_id}/rotate-secret"): lambda w: (
        f"/api/v1/webhooks/{w.ids['webhook']}/rotate-secret",
        {},
    ),
    ("post", "/api/v1/webhooks/{webhook_id}/test"): lambda w: (
        f"/api/v1/webhooks/{w.ids['webhook']}/test",
        None,
    ),
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries"): lambda w: (
        f"/api/v1/webhooks/{w.ids['webhook']}/deliveries",
        None,
    ),
    ("post", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): lambda w: (
        f"/api/v1/webhooks/{w.ids['webhook']}/deliveries/{w.ids['delivery']}/redeliver",
        None,
    ),
}


def operations(app: Any) -> dict[tuple[str, str], str]:
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    return {
        (method, path): operation["x-permission"]
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }


def allowed(permission: str, role: str | None) -> bool:
    """What the declaration promises; every token here is granted on every model ("*"), so
    the global actions need nothing more."""
    if permission == "public":
        return True
    return role is not None and Action(permission) in ROLE_ACTIONS[Role(role)]


def test_every_operation_has_a_sample(app):
    assert set(operations(app)) - set(SAMPLES) == set()
    assert set(SAMPLES) - set(operations(app)) == set()


@pytest.mark.parametrize("operation", sorted(SAMPLES), ids=lambda o: f"{o[0]} {o[1]}")
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "no-token")
def test_route_by_role(app, client, registry, tokens, use_policies, operation, role):
    use_policies(DEFAULT_POLICIES)
    acting = RegistryClient(client, tokens(role, name=f"acting-{role}") if role else None)
    world = build_world(registry, tokens, client, acting, role)
    path, body = SAMPLES[operation](world)
    method = operation[0].upper()
    kwargs = {"json": body} if body is not None else {}
    response = acting.call(method, path, **kwargs)
    permission = operations(app)[operation]
    text = response.get_data(as_text=True)
    if role is None and permission != "public":
        assert response.status_code == 401, text
    elif allowed(permission, role):
        assert response.status_code not in (401, 403), f"{role} {method} {path}: {text}"
        assert response.status_code < 500, text
    else:
        assert response.status_code == 403, f"{role} {method} {path}: {text}"
        assert response.get_json()["error_code"] == "PERMISSION_DENIED"
