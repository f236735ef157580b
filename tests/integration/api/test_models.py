"""Registered models through the native API."""

from tests.helpers import error_code


def test_create_get_and_list_a_model(registry):
    created = registry.create_model("fraud", description="Card fraud", tags={"team": "risk"})
    assert created["name"] == "fraud"
    assert created["tags"] == {"team": "risk"}
    assert created["aliases"] == {}
    assert created["latest_versions"] == {}
    assert created["created_at"].endswith("Z")
    assert registry.model("fraud") == created
    listed = registry.get("/api/v1/models").get_json()
    assert [m["name"] for m in listed["models"]] == ["fraud"]
    assert listed["next_page_token"] is None


def test_names_are_unique_regardless_of_case(registry):
    registry.create_model("Fraud")
    response = registry.post("/api/v1/models", {"name": "fraud"}, expect=409)
    assert error_code(response) == "ALREADY_EXISTS"
    assert response.get_json()["details"]["existing"] == "Fraud"
    registry.get("/api/v1/models/fraud", expect=404)  # lookups are exact


def test_unicode_names_are_normalised_once(registry):
    registry.create_model("mode\u0300le")  # "modèle" typed with a combining accent
    assert registry.model("modèle")["name"] == "modèle"
    assert (
        error_code(registry.post("/api/v1/models", {"name": "modèle"}, expect=409))
        == "ALREADY_EXISTS"
    )


def test_unknown_model_is_not_found(registry):
    response = registry.get("/api/v1/models/nope", expect=404)
    assert error_code(response) == "NOT_FOUND"


def test_update_description_and_rename_in_one_call(registry):
    registry.create_model("churn")
    registry.create_version("churn")
    registry.put("/api/v1/models/churn/aliases/champion", {"version": 1})
    updated = registry.patch(
        "/api/v1/models/churn", {"description": "new", "new_name": "churn-v2"}
    ).get_json()
    assert updated["name"] == "churn-v2"
    assert updated["description"] == "new"
    assert updated["aliases"] == {"champion": 1}
    registry.get("/api/v1/models/churn", expect=404)
    assert registry.version("churn-v2", 1)["name"] == "churn-v2"


def test_rename_onto_an_existing_name_is_refused(registry):
    registry.create_model("a")
    registry.create_model("b")
    response = registry.patch("/api/v1/models/a", {"new_name": "B"}, expect=409)
    assert error_code(response) == "ALREADY_EXISTS"
    assert registry.model("a")["name"] == "a"


def test_renaming_to_a_different_case_of_the_same_name_works(registry):
    registry.create_model("fraud")
    assert (
        registry.patch("/api/v1/models/fraud", {"new_name": "Fraud"}).get_json()["name"] == "Fraud"
    )


def test_delete_removes_the_model_and_its_versions(registry):
    registry.create_model("tmp")
    registry.create_version("tmp")
    registry.delete("/api/v1/models/tmp", expect=204)
    registry.get("/api/v1/models/tmp", expect=404)
    registry.create_model("tmp")  # the name is free again, and numbering starts over
    assert registry.create_version("tmp")["version"] == 1


def test_a_model_serving_a_version_cannot_be_deleted(registry):
    registry.create_model("live")
    registry.create_version("live")
    registry.transition("live", 1, "Production")
    response = registry.delete("/api/v1/models/live", expect=409)
    assert error_code(response) == "CONFLICT"
    assert response.get_json()["details"]["active_versions"] == [
        {"version": 1, "stage": "Production"}
    ]
    registry.transition("live", 1, "Archived")
    registry.delete("/api/v1/models/live", expect=204)


def test_model_tags_set_overwrite_and_delete(registry):
    registry.create_model("m")
    assert registry.put("/api/v1/models/m/tags/owner", {"value": "ann"}).get_json()["tags"] == {
        "owner": "ann"
    }
    registry.put("/api/v1/models/m/tags/owner", {"value": "bob"})
    registry.put("/api/v1/models/m/tags/cost.center/eu", {"value": "42"})  # keys may hold "/"
    assert registry.model("m")["tags"] == {"owner": "bob", "cost.center/eu": "42"}
    assert registry.delete("/api/v1/models/m/tags/owner", expect=200).get_json()["tags"] == {
        "cost.center/eu": "42"
    }
    assert error_code(registry.delete("/api/v1/models/m/tags/owner", expect=404)) == "NOT_FOUND"


def test_aliases_point_move_and_disappear(registry):
    registry.create_model("m")
    registry.create_version("m")
    registry.create_version("m")
    assert registry.put("/api/v1/models/m/aliases/champion", {"version": 1}).get_json()[
        "aliases"
    ] == {"champion": 1}
    assert registry.version("m", 1)["aliases"] == ["champion"]
    registry.put("/api/v1/models/m/aliases/champion", {"version": 2})
    assert registry.version("m", 1)["aliases"] == []
    assert registry.version("m", 2)["aliases"] == ["champion"]
    registry.delete("/api/v1/models/m/aliases/champion", expect=200)
    assert registry.model("m")["aliases"] == {}


def test_aliases_need_an_existing_version_and_a_free_name(registry):
    registry.create_model("m")
    registry.create_version("m")
    assert (
        error_code(registry.put("/api/v1/models/m/aliases/champion", {"version": 9}, expect=404))
        == "NOT_FOUND"
    )
    for reserved in ("latest", "v3", "Latest"):
        response = registry.put(f"/api/v1/models/m/aliases/{reserved}", {"version": 1}, expect=400)
        assert error_code(response) == "INVALID_ARGUMENT"
    response = registry.put("/api/v1/models/m/aliases/champion", {"version": "1"}, expect=422)
    assert error_code(response) == "INVALID_ARGUMENT"


def test_latest_versions_report_the_highest_version_per_stage(registry):
    registry.create_model("m")
    for _ in range(3):
        registry.create_version("m")
    registry.transition("m", 1, "Staging")
    registry.transition("m", 2, "Staging")
    assert registry.model("m")["latest_versions"] == {"Staging": 2, "None": 3}


def test_list_pages_through_every_model_once_in_name_order(registry):
    names = [f"model-{i:02d}" for i in range(7)]
    for name in reversed(names):
        registry.create_model(name)
    seen, token = [], None
    while True:
        query = "/api/v1/models?max_results=3" + (f"&page_token={token}" if token else "")
        page = registry.get(query).get_json()
        seen += [m["name"] for m in page["models"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == names


def test_list_filters_by_glob_and_tags(registry):
    registry.create_model("fraud-eu", tags={"team": "risk", "tier": "1"})
    registry.create_model("fraud-us", tags={"team": "risk"})
    registry.create_model("churn", tags={"team": "growth"})
    registry.create_model("FRAUD-x")

    def names(query):
        return [m["name"] for m in registry.get("/api/v1/models" + query).get_json()["models"]]

    assert names("?filter=fraud-*") == ["fraud-eu", "fraud-us"]  # case-sensitive globs
    assert names("?filter=fraud-??") == ["fraud-eu", "fraud-us"]
    assert names("?tag=team=risk") == ["fraud-eu", "fraud-us"]
    assert names("?tag=team=risk&tag=tier=1") == ["fraud-eu"]
    assert names("?filter=*&tag=team=growth") == ["churn"]
    assert names("?filter=100%25") == []  # SQL wildcards in a glob are literal


def test_a_page_token_is_bound_to_its_filters(registry):
    for name in ("a1", "a2", "a3"):
        registry.create_model(name)
    token = registry.get("/api/v1/models?filter=a*&max_results=1").get_json()["next_page_token"]
    response = registry.get(f"/api/v1/models?filter=b*&page_token={token}", expect=400)
    assert error_code(response) == "INVALID_ARGUMENT"


def test_single_resources_carry_an_etag_that_if_match_checks(registry):
    registry.create_model("m", description="one")
    first = registry.get("/api/v1/models/m")
    etag = first.headers["ETag"]
    registry.get("/api/v1/models/m", expect=304, headers={"If-None-Match": etag})
    registry.patch("/api/v1/models/m", {"description": "two"}, headers={"If-Match": etag})
    stale = registry.patch(
        "/api/v1/models/m", {"description": "three"}, headers={"If-Match": etag}, expect=412
    )
    assert error_code(stale) == "PRECONDITION_FAILED"
    assert registry.model("m")["description"] == "two"
    fresh = registry.get("/api/v1/models/m").headers["ETag"]
    assert fresh != etag
    registry.delete("/api/v1/models/m", headers={"If-Match": etag}, expect=412)
    registry.delete("/api/v1/models/m", headers={"If-Match": fresh}, expect=204)


def test_a_model_serving_in_production_cannot_be_renamed(registry):
    """One admin could otherwise change what models:/NAME/Production delivers with no approval:
    move a serving model off its name, or an approved one onto it."""
    registry.create_model("fraud")
    registry.create_version("fraud")
    registry.transition("fraud", 1, "Production")
    response = registry.patch("/api/v1/models/fraud", {"new_name": "fraud-old"}, expect=409)
    assert error_code(response) == "CONFLICT"
    assert response.get_json()["details"]["active_versions"] == [
        {"version": 1, "stage": "Production"}
    ]
    assert registry.get("/api/v1/resolve?uri=models:/fraud/Production").get_json()["version"] == 1
    (refusal,) = registry.get("/api/v1/audit?event=transition.refused").get_json()["events"]
    assert (refusal["model"], refusal["data"]["reason"]) == ("fraud", "serving")
    registry.transition("fraud", 1, "Archived")  # governed: then the name may change
    assert registry.patch("/api/v1/models/fraud", {"new_name": "fraud-old"}).status_code == 200
