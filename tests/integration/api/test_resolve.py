"""GET /api/v1/resolve: every URI form, 404 and 400, ETag and 304, never stale."""

import pytest

from tests.helpers import error_code


@pytest.fixture
def model(registry):
    registry.create_model("fraud")
    for _ in range(4):
        registry.create_version("fraud", tags={"k": "v"})
    registry.transition("fraud", 2, "Production")
    registry.transition("fraud", 3, "Staging")
    registry.put("/api/v1/models/fraud/aliases/champion", {"version": 1})
    return "fraud"


def resolve(registry, uri, expect=200, **kwargs):
    return registry.get(f"/api/v1/resolve?uri={uri}", expect=expect, **kwargs)


@pytest.mark.parametrize(
    ("uri", "version"),
    [
        ("models:/fraud/Production", 2),
        ("models:/fraud/production", 2),
        ("models:/fraud/STAGING", 3),
        ("models:/fraud/3", 3),
        ("models:/fraud/latest", 4),
        ("models:/fraud@champion", 1),
        ("models:/fraud/None", 4),
    ],
)
def test_each_form_resolves(registry, model, uri, version):
    body = resolve(registry, uri).get_json()
    assert body["version"] == version
    assert body["uri"] == f"models:/fraud/{version}"
    assert body["tags"] == {"k": "v"}


def test_the_highest_version_wins_when_a_stage_is_shared(registry, model):
    registry.transition(model, 4, "Production")
    assert resolve(registry, "models:/fraud/Production").get_json()["version"] == 4


@pytest.mark.parametrize(
    "uri",
    [
        "models:/fraud/Archived",
        "models:/fraud/9",
        "models:/fraud@nobody",
        "models:/ghost/Production",
        "models:/ghost/latest",
    ],
)
def test_nothing_there_is_not_found(registry, model, uri):
    assert error_code(resolve(registry, uri, expect=404)) == "NOT_FOUND"


@pytest.mark.parametrize(
    "uri", ["models:/fraud", "models:/fraud/Prod", "fraud/Production", "models:/fraud@latest!", ""]
)
def test_malformed_uris_are_invalid(registry, model, uri):
    assert error_code(resolve(registry, uri, expect=400)) == "INVALID_ARGUMENT"


def test_missing_uri_is_invalid(registry, model):
    assert error_code(registry.get("/api/v1/resolve", expect=422)) == "INVALID_ARGUMENT"


def test_etag_gives_304_until_a_promotion_changes_the_answer(registry, model):
    first = resolve(registry, "models:/fraud/Production")
    etag = first.headers["ETag"]
    resolve(registry, "models:/fraud/Production", expect=304, headers={"If-None-Match": etag})
    registry.transition(model, 3, "Production", archive_existing_versions=True)
    after = resolve(registry, "models:/fraud/Production", headers={"If-None-Match": etag})
    assert after.get_json()["version"] == 3
    assert after.headers["ETag"] != etag


def test_a_tag_change_on_the_resolved_version_changes_the_etag(registry, model):
    etag = resolve(registry, "models:/fraud@champion").headers["ETag"]
    registry.put("/api/v1/models/fraud/versions/1/tags/k", {"value": "changed"})
    after = resolve(registry, "models:/fraud@champion", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.get_json()["tags"] == {"k": "changed"}
