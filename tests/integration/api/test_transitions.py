"""Stage changes through POST .../transitions (applied at once until governance lands)."""

import pytest

from tests.helpers import error_code


@pytest.fixture
def model(registry):
    registry.create_model("fraud")
    for _ in range(3):
        registry.create_version("fraud")
    return "fraud"


def test_a_transition_applies_at_once_and_answers_with_the_request(registry, model):
    request = registry.transition(model, 1, "production", comment="ship it")
    assert request["state"] == "applied"
    assert (request["from_stage"], request["to_stage"]) == ("None", "Production")
    assert request["comment"] == "ship it"
    assert request["requested_by"] == request["decided_by"]
    assert request["archived_versions"] == []
    assert registry.version(model, 1)["stage"] == "Production"


def test_archive_existing_versions_archives_the_incumbents_atomically(registry, model):
    registry.transition(model, 1, "Production")
    registry.transition(model, 2, "Production")  # without the flag both serve
    request = registry.transition(model, 3, "Production", archive_existing_versions=True)
    assert request["archived_versions"] == [1, 2]
    stages = {v: registry.version(model, v)["stage"] for v in (1, 2, 3)}
    assert stages == {1: "Archived", 2: "Archived", 3: "Production"}


def test_archiving_only_touches_the_target_stage(registry, model):
    registry.transition(model, 1, "Staging")
    registry.transition(model, 2, "Production", archive_existing_versions=True)
    assert registry.version(model, 1)["stage"] == "Staging"


@pytest.mark.parametrize("stage", ["None", "Archived"])
def test_archive_flag_is_refused_for_inactive_targets(registry, model, stage):
    registry.transition(model, 1, "Staging")
    response = registry.post(
        f"/api/v1/models/{model}/versions/1/transitions",
        {"to_stage": stage, "archive_existing_versions": True},
        expect=400,
    )
    assert error_code(response) == "INVALID_ARGUMENT"
    assert registry.version(model, 1)["stage"] == "Staging"


def test_moves_outside_the_table_are_conflicts(registry, model):
    registry.transition(model, 1, "Production")
    response = registry.post(
        f"/api/v1/models/{model}/versions/1/transitions", {"to_stage": "None"}, expect=409
    )
    assert error_code(response) == "CONFLICT"
    assert response.get_json()["details"]["allowed"] == ["Archived", "Staging"]
    again = registry.post(
        f"/api/v1/models/{model}/versions/1/transitions", {"to_stage": "Production"}, expect=409
    )
    assert "already in Production" in again.get_json()["message"]


def test_unknown_stage_and_missing_version(registry, model):
    response = registry.post(
        f"/api/v1/models/{model}/versions/1/transitions", {"to_stage": "Live"}, expect=400
    )
    assert error_code(response) == "INVALID_ARGUMENT"
    missing = registry.post(
        f"/api/v1/models/{model}/versions/9/transitions", {"to_stage": "Staging"}, expect=404
    )
    assert error_code(missing) == "NOT_FOUND"


def test_rollback_from_archived_to_production(registry, model):
    registry.transition(model, 1, "Production")
    registry.transition(model, 2, "Production", archive_existing_versions=True)
    registry.transition(model, 1, "Production", archive_existing_versions=True)
    assert registry.version(model, 1)["stage"] == "Production"
    assert registry.version(model, 2)["stage"] == "Archived"
