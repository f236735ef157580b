"""Model versions through the native API."""

import pytest

from tests.helpers import error_code


@pytest.fixture
def model(registry):
    registry.create_model("fraud")
    return "fraud"


def test_versions_are_numbered_from_one(registry, model):
    first = registry.create_version(
        model, "s3://b/1", run_id="r1", description="first", tags={"metric.auc": "0.91"}
    )
    assert (first["version"], first["stage"], first["status"]) == (1, "None", "READY")
    assert first["source"] == "s3://b/1"
    assert first["run_id"] == "r1"
    assert first["tags"] == {"metric.auc": "0.91"}
    assert registry.create_version(model)["version"] == 2
    assert registry.version(model, 1) == first


def test_registering_on_an_unknown_model_is_not_found(registry):
    response = registry.post("/api/v1/models/ghost/versions", {"source": "s3://b/k"}, expect=404)
    assert error_code(response) == "NOT_FOUND"


@pytest.mark.parametrize(
    "source",
    [
        "runs:/abc/model",
        "mlflow-artifacts:/1/2/artifacts",
        "file:///mnt/m",
        "/mnt/models/fraud",
        "gs://b/k",
        "wasbs://c@acct.blob.core.windows.net/p",
    ],
)
def test_any_well_formed_source_is_accepted_without_a_run(registry, model, source):
    assert registry.create_version(model, source)["source"] == source


@pytest.mark.parametrize("source", ["relative/path", "s3://b/../../etc", ""])
def test_malformed_sources_are_refused(registry, model, source):
    response = registry.post(f"/api/v1/models/{model}/versions", {"source": source}, expect=400)
    assert error_code(response) == "INVALID_ARGUMENT"


def test_a_deleted_number_is_never_reused(registry, model):
    for _ in range(3):
        registry.create_version(model)
    registry.delete(f"/api/v1/models/{model}/versions/3", expect=204)
    registry.delete(f"/api/v1/models/{model}/versions/2", expect=204)
    assert registry.create_version(model)["version"] == 4
    listed = registry.get(f"/api/v1/models/{model}/versions").get_json()["versions"]
    assert [v["version"] for v in listed] == [4, 1]


def test_deleting_a_version_removes_its_aliases(registry, model):
    registry.create_version(model)
    registry.create_version(model)
    registry.put(f"/api/v1/models/{model}/aliases/champion", {"version": 1})
    registry.delete(f"/api/v1/models/{model}/versions/1", expect=204)
    assert registry.model(model)["aliases"] == {}
    registry.get(f"/api/v1/models/{model}/versions/1", expect=404)


@pytest.mark.parametrize("stage", ["Staging", "Production"])
def test_a_serving_version_cannot_be_deleted(registry, model, stage):
    registry.create_version(model)
    registry.transition(model, 1, stage)
    response = registry.delete(f"/api/v1/models/{model}/versions/1", expect=409)
    assert error_code(response) == "CONFLICT"
    assert registry.version(model, 1)["stage"] == stage


def test_list_versions_newest_first_by_stage_and_paged(registry, model):
    for _ in range(5):
        registry.create_version(model)
    registry.transition(model, 2, "Staging")
    registry.transition(model, 4, "Staging")
    staging = registry.get(f"/api/v1/models/{model}/versions?stage=staging").get_json()
    assert [v["version"] for v in staging["versions"]] == [4, 2]
    seen, token = [], None
    while True:
        page = registry.get(
            f"/api/v1/models/{model}/versions?max_results=2"
            + (f"&page_token={token}" if token else "")
        ).get_json()
        seen += [v["version"] for v in page["versions"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == [5, 4, 3, 2, 1]


def test_listing_versions_of_an_unknown_model_is_not_found(registry):
    assert error_code(registry.get("/api/v1/models/ghost/versions", expect=404)) == "NOT_FOUND"


def test_unknown_stage_filter_is_an_invalid_argument(registry, model):
    response = registry.get(f"/api/v1/models/{model}/versions?stage=Live", expect=400)
    assert error_code(response) == "INVALID_ARGUMENT"


def test_update_a_version_description_with_if_match(registry, model):
    registry.create_version(model)
    etag = registry.get(f"/api/v1/models/{model}/versions/1").headers["ETag"]
    updated = registry.patch(
        f"/api/v1/models/{model}/versions/1", {"description": "better"}, headers={"If-Match": etag}
    ).get_json()
    assert updated["description"] == "better"
    response = registry.patch(
        f"/api/v1/models/{model}/versions/1",
        {"description": "x"},
        headers={"If-Match": etag},
        expect=412,
    )
    assert error_code(response) == "PRECONDITION_FAILED"


def test_version_tags(registry, model):
    registry.create_version(model)
    path = f"/api/v1/models/{model}/versions/1/tags"
    assert registry.put(f"{path}/metric.auc", {"value": "0.95"}).get_json()["tags"] == {
        "metric.auc": "0.95"
    }
    registry.put(f"{path}/metric.auc", {"value": "0.96"})
    assert registry.version(model, 1)["tags"] == {"metric.auc": "0.96"}
    registry.delete(f"{path}/metric.auc", expect=200)
    assert registry.version(model, 1)["tags"] == {}
    assert error_code(registry.delete(f"{path}/metric.auc", expect=404)) == "NOT_FOUND"
    assert (
        error_code(
            registry.put(f"/api/v1/models/{model}/versions/9/tags/k", {"value": "v"}, expect=404)
        )
        == "NOT_FOUND"
    )


def test_version_numbers_out_of_range_are_refused(registry, model):
    assert (
        error_code(registry.get(f"/api/v1/models/{model}/versions/0", expect=400))
        == "INVALID_ARGUMENT"
    )
    assert (
        error_code(registry.get(f"/api/v1/models/{model}/versions/99999999999", expect=400))
        == "INVALID_ARGUMENT"
    )
