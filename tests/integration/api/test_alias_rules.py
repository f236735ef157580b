"""Protected aliases: only the named roles move them, onto versions in the stage they name,
and they leave a version that leaves that stage."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.extensions import db
from registry.orm import AuditEvent, ModelAlias, RegisteredModel
from registry.orm.base import utcnow
from tests.conftest import DEFAULT_POLICIES
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
    admin.transition("fraud", 2, "Production")  # archives version 1: champion follows 2
    assert admin.model("fraud")["aliases"] == {"shadow": 1, "champion": 2}
    admin.transition("fraud", 2, "Staging")  # nothing replaces it: champion leaves
    assert admin.model("fraud")["aliases"] == {"shadow": 1}
    admin.get("/api/v1/resolve?uri=models:/fraud@champion", expect=404)
    with app.app_context():
        last = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.event == "model_version.alias_deleted")
        ).scalar_one()
    assert last.version == 2
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


# --------------------------------------------------------------------------- the defaults


@pytest.fixture
def governed(registry, use_policies, as_role):
    """The shipped default policies: fraud version 1 in Production (two approvers), 2 in
    Staging, 3 in None; the people who act on it."""
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud")
    for _ in range(3):
        registry.create_version("fraud")
    people = {
        "admin": registry,
        "contributor": as_role("contributor"),
        "lead": as_role("contributor", "approver"),  # may set aliases and approve
        "alice": as_role("approver"),
        "bob": as_role("approver"),
    }
    promote(people, 1)
    registry.transition("fraud", 2, "Staging")
    return people


def promote(people, version):
    admin = people["admin"]
    if admin.version("fraud", version)["stage"] != "Staging":
        admin.transition("fraud", version, "Staging")
    request = admin.post(
        f"/api/v1/models/fraud/versions/{version}/transitions",
        {"to_stage": "Production"},
        expect=201,
    ).get_json()
    for approver in ("alice", "bob"):
        people[approver].post(
            f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=200
        )
    assert admin.version("fraud", version)["stage"] == "Production"
    return request["id"]


@pytest.mark.parametrize("alias", ["champion", "shadow", "prod", "x"])
@pytest.mark.parametrize("version", [1, 2, 3])
def test_under_the_defaults_a_contributor_moves_no_alias(governed, alias, version):
    """Not even onto the version in Production: setting what pipelines follow is an
    approver's act, as Production is."""
    refused = governed["contributor"].put(
        f"/api/v1/models/fraud/aliases/{alias}", {"version": version}, expect=403
    )
    assert error_code(refused) == "PERMISSION_DENIED"
    assert "aliases-follow-production" in refused.get_json()["message"]
    assert governed["admin"].model("fraud")["aliases"] == {}


@pytest.mark.parametrize("who", ["lead", "admin"])
def test_under_the_defaults_an_alias_names_only_the_version_in_production(governed, who):
    for version, stage in ((2, "Staging"), (3, "None")):
        refused = governed[who].put(
            "/api/v1/models/fraud/aliases/champion", {"version": version}, expect=422
        )
        check = refused.get_json()["details"]["failed_checks"][0]
        assert (check["check"], check["actual"]) == ("alias_stage", stage)
    governed[who].put("/api/v1/models/fraud/aliases/champion", {"version": 1})
    governed["admin"].get("/api/v1/resolve?uri=models:/fraud@champion")


def test_dev_aliases_are_free_by_name(governed):
    governed["contributor"].put("/api/v1/models/fraud/aliases/dev-alice", {"version": 3})
    governed["contributor"].delete("/api/v1/models/fraud/aliases/dev-alice", expect=200)


def test_an_alias_follows_the_version_that_replaces_its_own_in_production(app, governed):
    governed["lead"].put("/api/v1/models/fraud/aliases/champion", {"version": 1})
    request_id = promote(governed, 2)  # archives version 1
    assert governed["admin"].model("fraud")["aliases"] == {"champion": 2}
    with app.app_context():
        moved = (
            db.session.execute(
                sa.select(AuditEvent)
                .where(AuditEvent.event == "model_version.alias_set")
                .order_by(AuditEvent.seq.desc())
            )
            .scalars()
            .first()
        )
    assert (moved.version, moved.data["previous_version"], moved.data["rule"]) == (
        2,
        1,
        "aliases-follow-production",
    )
    assert moved.data["request_id"] == request_id


@pytest.mark.parametrize("who", ["lead", "admin"])
def test_an_alias_whose_version_serves_is_not_removed_by_one_person(governed, who):
    governed["lead"].put("/api/v1/models/fraud/aliases/champion", {"version": 1})
    refused = governed[who].delete("/api/v1/models/fraud/aliases/champion", expect=422)
    check = refused.get_json()["details"]["failed_checks"][0]
    assert (check["check"], check["rule"]) == ("alias_bound_to_stage", "aliases-follow-production")
    assert governed["admin"].model("fraud")["aliases"] == {"champion": 1}
    # It leaves with its version, which takes two people.
    request = (
        governed["admin"]
        .post("/api/v1/models/fraud/versions/1/transitions", {"to_stage": "Archived"}, expect=201)
        .get_json()
    )
    assert request["state"] == "pending"
    governed["alice"].post(f"/api/v1/transition-requests/{request['id']}/approve", {})
    assert governed["admin"].model("fraud")["aliases"] == {}


def test_an_alias_left_outside_its_stage_may_be_removed(app, governed):
    """One imported (or set before the rule) onto a version elsewhere: an approver may
    clean it up, and a contributor still may not."""
    with app.app_context():
        model = db.session.execute(
            sa.select(RegisteredModel).where(RegisteredModel.name == "fraud")
        ).scalar_one()
        db.session.add(
            ModelAlias(model_id=model.id, alias="legacy", version=3, updated_at=utcnow())
        )
        db.session.commit()
    governed["contributor"].delete("/api/v1/models/fraud/aliases/legacy", expect=403)
    governed["lead"].delete("/api/v1/models/fraud/aliases/legacy", expect=200)


def test_a_serving_model_is_not_renamed(governed):
    """A rename changes what both names resolve to: models:/fraud/Production would vanish,
    and another name would serve what fraud's approvers admitted."""
    refused = governed["admin"].patch("/api/v1/models/fraud", {"new_name": "fraud-v2"}, expect=409)
    assert error_code(refused) == "CONFLICT"
    assert refused.get_json()["details"]["active_versions"] == [
        {"version": 1, "stage": "Production"},
        {"version": 2, "stage": "Staging"},
    ]
    governed["admin"].create_model("idle")
    governed["admin"].create_version("idle")
    governed["admin"].patch("/api/v1/models/idle", {"new_name": "idle-renamed"})


def test_policies_show_the_alias_rules_and_warn_of_ungoverned_aliases(registry, use_policies):
    use_policies(DEFAULT_POLICIES)
    shipped = registry.get("/api/v1/policies").get_json()
    assert shipped["warnings"] == []
    assert {r["name"]: r["free"] for r in shipped["aliases"]} == {
        "aliases-follow-production": False,
        "dev-aliases-are-free": True,
    }
    use_policies(policies_from(RULES))
    (warning,) = registry.get("/api/v1/policies").get_json()["warnings"]
    assert "No alias rule covers every alias of every model" in warning
