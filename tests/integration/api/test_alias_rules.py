"""Protected aliases: only the named roles move them, onto versions in the stage they name,
and they leave a version that leaves that stage."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.extensions import db
from registry.orm import AuditEvent
from tests.helpers import error_code
from tests.integration.domain.conftest import policies_from

RULES = """
policies:
  - {name: s, stage: Staging}
  - {name: p, stage: Production, archive_existing_versions: true, exclusive: true}
  - {name: a, stage: Archived}
aliases:
  - name: champion-is-production
    alias: champion
    roles: [approver, admin]
    require_stage: Production
"""


@pytest.fixture
def world(registry, use_policies, as_role):
    use_policies(policies_from(RULES))
    registry.create_model("fraud")
    for _ in range(3):
        registry.create_version("fraud")
    registry.transition("fraud", 1, "Production")
    registry.transition("fraud", 2, "Staging")
    return {
        "admin": registry,
        "contributor": as_role("contributor"),
        "approver": as_role("contributor", "approver"),
    }


def test_only_the_named_roles_move_a_protected_alias(world):
    refused = world["contributor"].put(
        "/api/v1/models/fraud/aliases/champion", {"version": 1}, expect=403
    )
    assert error_code(refused) == "PERMISSION_DENIED"
    assert "champion-is-production" in refused.get_json()["message"]
    world["approver"].put("/api/v1/models/fraud/aliases/champion", {"version": 1})
    assert (
        error_code(world["contributor"].delete("/api/v1/models/fraud/aliases/champion", expect=403))
        == "PERMISSION_DENIED"
    )
    # other aliases stay free for contributors
    world["contributor"].put("/api/v1/models/fraud/aliases/shadow", {"version": 2})


def test_a_protected_alias_points_only_into_its_stage(world):
    response = world["admin"].put(
        "/api/v1/models/fraud/aliases/champion", {"version": 2}, expect=422
    )
    assert error_code(response) == "POLICY_VIOLATION"
    check = response.get_json()["details"]["failed_checks"][0]
    assert (check["check"], check["required_stage"], check["actual"]) == (
        "alias_stage",
        "Production",
        "Staging",
    )


def test_the_alias_leaves_a_version_that_leaves_the_stage(app, world):
    admin = world["admin"]
    admin.put("/api/v1/models/fraud/aliases/champion", {"version": 1})
    admin.put("/api/v1/models/fraud/aliases/shadow", {"version": 1})
    admin.transition("fraud", 2, "Production")  # archives version 1
    assert admin.model("fraud")["aliases"] == {"shadow": 1}
    admin.get("/api/v1/resolve?uri=models:/fraud@champion", expect=404)
    with app.app_context():
        last = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.event == "model_version.alias_deleted")
        ).scalar_one()
    assert (last.data["alias"], last.data["rule"], last.data["reason"]) == (
        "champion",
        "champion-is-production",
        "version left Production",
    )


def test_policies_show_the_alias_rules(world):
    body = world["admin"].get("/api/v1/policies").get_json()
    assert body["aliases"][0]["alias"] == "champion"
    assert body["aliases"][0]["require_stage"] == "Production"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/v1/models/fraud/tags/k", {"value": "v"}),
        ("DELETE", "/api/v1/models/fraud/tags/team", None),
        ("PUT", "/api/v1/models/fraud/aliases/shadow", {"version": 2}),
        ("PUT", "/api/v1/models/fraud/versions/3/tags/k", {"value": "v"}),
        ("POST", "/api/v1/models/fraud/versions/3/transitions", {"to_stage": "Staging"}),
    ],
)
def test_stale_if_match_is_refused_on_every_write(world, method, path, body):
    admin = world["admin"]
    admin.put("/api/v1/models/fraud/tags/team", {"value": "risk"})
    stale = '"not-the-current-etag"'
    response = admin.call(
        method,
        path,
        412,
        headers={"If-Match": stale},
        **({"json": body} if body is not None else {}),
    )
    assert error_code(response) == "PRECONDITION_FAILED"
    resource = "/api/v1/models/fraud/versions/3" if "/versions/" in path else "/api/v1/models/fraud"
    current = admin.get(resource).headers["ETag"]
    admin.call(
        method,
        path,
        None,
        headers={"If-Match": current},
        **({"json": body} if body is not None else {}),
    )
