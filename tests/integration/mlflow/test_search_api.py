"""MLflow's searches: its filter grammar, order_by forms and page tokens, over the domain's
one search (which the native model listing uses too)."""

from __future__ import annotations

import pytest


@pytest.fixture
def catalogue(mlflow_api):
    for name, team in [("fraud-eu", "risk"), ("fraud-us", "risk"), ("Fraud-old", "ops")]:
        mlflow_api.model(name, tags=[{"key": "team", "value": team}])
    mlflow_api.post(
        "registered-models/set-tag", name="fraud-us", key="mlflow.prompt.is_prompt", value="true"
    )
    for run in ("r1", "r2", "r3"):
        mlflow_api.version("fraud-eu", source=f"s3://models/fraud-eu/{run}", run_id=run)
    mlflow_api.version("fraud-us", tags=[{"key": "validation", "value": "passed"}])
    return mlflow_api


def names(body):
    return [m["name"] for m in body.get("registered_models", [])]


def versions(body):
    return [(v["name"], v["version"]) for v in body.get("model_versions", [])]


def test_model_filters(catalogue):
    search = "registered-models/search"
    # The clause the client appends to every model search: a model without the tag passes.
    prompt = "tag.`mlflow.prompt.is_prompt` != 'true'"
    assert names(catalogue.get(search, filter=prompt)) == ["Fraud-old", "fraud-eu"]
    assert names(catalogue.get(search, filter=f"name LIKE 'fraud-%' AND {prompt}")) == ["fraud-eu"]
    assert names(catalogue.get(search, filter="name ilike 'FRAUD-%'")) == [
        "Fraud-old",
        "fraud-eu",
        "fraud-us",
    ]
    assert names(catalogue.get(search, filter="name = 'fraud-us'")) == ["fraud-us"]
    assert names(catalogue.get(search, filter='attribute.name != "fraud-us"')) == [
        "Fraud-old",
        "fraud-eu",
    ]
    assert names(catalogue.get(search, filter="name IN ('fraud-us', 'nope')")) == ["fraud-us"]
    assert names(catalogue.get(search, filter="name NOT IN ('fraud-us')")) == [
        "Fraud-old",
        "fraud-eu",
    ]
    assert names(catalogue.get(search, filter="tags.team = 'ops'")) == ["Fraud-old"]
    assert names(catalogue.get(search, filter="tags.\"team\" LIKE 'r%'")) == [
        "fraud-eu",
        "fraud-us",
    ]
    # An ordinary tag compared with != matches only models that have it.
    assert names(catalogue.get(search, filter="tags.team != 'nobody'")) == [
        "Fraud-old",
        "fraud-eu",
        "fraud-us",
    ]
    assert names(catalogue.get(search, filter="tags.absent != 'x'")) == []


def test_version_filters(catalogue):
    search = "model-versions/search"
    assert versions(catalogue.get(search, filter="run_id = 'r2'")) == [("fraud-eu", "2")]
    assert versions(
        catalogue.get(search, filter="run_id IN ('r1', 'r3')", order_by=["version_number"])
    ) == [
        ("fraud-eu", "1"),
        ("fraud-eu", "3"),
    ]
    assert versions(
        catalogue.get(
            search,
            filter="name='fraud-eu' and version_number >= 2",
            order_by=["version_number DESC"],
        )
    ) == [("fraud-eu", "3"), ("fraud-eu", "2")]
    assert versions(catalogue.get(search, filter="source_path LIKE '%/r1'")) == [("fraud-eu", "1")]
    assert versions(catalogue.get(search, filter="tags.validation = 'passed'")) == [
        ("fraud-us", "1")
    ]
    # MLflow's default order: most recently updated first.
    catalogue.post("model-versions/set-tag", name="fraud-eu", version="1", key="k", value="v")
    assert versions(catalogue.get(search))[0] == ("fraud-eu", "1")


@pytest.mark.parametrize(
    ("filter_", "why"),
    [
        ("name = 'a' OR name = 'b'", "OR"),
        ("NOT name = 'a'", "NOT"),
        ("(name = 'a')", "parentheses"),
        ("name = ", "ends"),
        ("owner = 'me'", "owner"),
        ("name < 'a'", "<"),
        ("tags.team IN ('a')", "IN"),
        ("name = 'unterminated", "parse"),
    ],
)
def test_bad_filters_are_invalid_parameter_values(mlflow_api, filter_, why):
    body = mlflow_api.get("registered-models/search", 400, filter=filter_)
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert why in body["message"]


def test_order_by_and_pages(catalogue):
    search = "registered-models/search"
    body = catalogue.get(search, order_by=["name DESC"], max_results=2)
    assert names(body) == ["fraud-us", "fraud-eu"]
    rest = catalogue.get(
        search, order_by=["name DESC"], max_results=2, page_token=body["next_page_token"]
    )
    assert names(rest) == ["Fraud-old"]
    assert "next_page_token" not in rest
    # Ordered by last update (then name): every model exactly once across pages of one.
    seen, token = [], None
    while True:
        fields = {"order_by": ["last_updated_timestamp DESC"], "max_results": 1}
        page = catalogue.get(search, **fields, **({"page_token": token} if token else {}))
        seen += names(page)
        token = page.get("next_page_token")
        if not token:
            break
    assert sorted(seen) == ["Fraud-old", "fraud-eu", "fraud-us"]
    assert seen[0] == "fraud-us"  # its prompt tag and its version were the last changes
    # A token belongs to the search that issued it.
    other = catalogue.get(search, 400, order_by=["name"], page_token=body["next_page_token"])
    assert other["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("endpoint", "fields"),
    [
        ("registered-models/search", {"max_results": 1001}),
        ("registered-models/search", {"max_results": 0}),
        ("model-versions/search", {"max_results": 200_001}),
        ("registered-models/search", {"order_by": ["name", "name DESC"]}),
        ("registered-models/search", {"order_by": ["timestamp", "last_updated_timestamp"]}),
        ("registered-models/search", {"order_by": ["owner"]}),
        ("model-versions/search", {"order_by": ["version_number sideways"]}),
        ("registered-models/search", {"page_token": "forged"}),
    ],
)
def test_bad_search_arguments(mlflow_api, endpoint, fields):
    assert mlflow_api.error("GET", endpoint, 400, **fields) == "INVALID_PARAMETER_VALUE"


def test_the_clients_default_page_of_versions_is_accepted(catalogue):
    body = catalogue.get("model-versions/search", max_results=10_000)
    assert len(body["model_versions"]) == 4


@pytest.mark.parametrize(
    "filter_",
    [
        "name LIKE 'fraud-e%\\'",
        "name LIKE 'fraud-e%\\\\'",
        "tags.team ILIKE 'r%\\'",
        "version_number > 99999999999999999",
        "name = '" + "x" * 5000 + "'",
        "run_id IN ('" + "', '".join(str(n) for n in range(500)) + "')",
    ],
)
def test_odd_filters_never_fail_the_server(catalogue, filter_):
    versions_only = "run_id" in filter_ or "version" in filter_
    endpoint = "model-versions/search" if versions_only else "registered-models/search"
    body = catalogue.get(endpoint, None, filter=filter_)
    assert body.get("error_code", "INVALID_PARAMETER_VALUE") == "INVALID_PARAMETER_VALUE", body
