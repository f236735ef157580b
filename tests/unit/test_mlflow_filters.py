"""The MLflow filter grammar and order_by forms, parsed into the domain's search query."""

from __future__ import annotations

import pytest

from registry.domain.errors import InvalidArgument
from registry.domain.search import Comparison, OrderKey, TagComparison, holds
from registry.mlflow.filters import MODELS, VERSIONS, parse


def test_the_clause_the_client_appends_to_every_model_search():
    query = parse(MODELS, "name LIKE 'acc-%' AND tag.`mlflow.prompt.is_prompt` != 'true'", None)
    assert query.where == (Comparison("name", "LIKE", "acc-%"),)
    assert query.tags == (TagComparison("mlflow.prompt.is_prompt", "!=", "true", "false"),)
    assert query.order == []


def test_keys_quotes_lists_and_numbers():
    query = parse(
        VERSIONS,
        "attribute.name IN ('a', \"b\") and tags.\"my key\" = 'it''s' "
        "AND version_number >= 3 AND run_id NOT IN ('r') and tags.plain.dotted ILIKE '%x%'",
        None,
    )
    assert query.where == (
        Comparison("name", "IN", ("a", "b")),
        Comparison("version", ">=", 3),
        Comparison("run_id", "NOT IN", ("r",)),
    )
    assert query.tags == (
        TagComparison("my key", "=", "it's"),
        TagComparison("plain.dotted", "ILIKE", "%x%"),
    )


def test_order_by_forms_and_defaults():
    assert parse(MODELS, None, ["timestamp desc", "name"]).order == [
        OrderKey("updated_at", descending=True),
        OrderKey("name"),
    ]
    assert parse(VERSIONS, "", None).order == [OrderKey("updated_at", descending=True)]
    assert parse(VERSIONS, "", ["version_number ASC"]).order == [OrderKey("version")]


@pytest.mark.parametrize(
    "text",
    [
        "name = 'a' OR name = 'b'",
        "name = 'a' AND",
        "name 'a'",
        "name = a",
        "version_number = 'x'",
        "version_number LIKE '1'",
        "source_path IN ('a')",
        "name IN 'a'",
        "name IN ('a' 'b')",
        "tags.k > 'a'",
        "current_stage = 'Production'",
        "name = 'a' name = 'b'",
        "name = 'a';",
    ],
)
def test_what_mlflow_refuses_is_refused(text):
    with pytest.raises(InvalidArgument):
        parse(VERSIONS, text, None)


@pytest.mark.parametrize(
    ("actual", "op", "expected", "result"),
    [
        ("false", "!=", "true", True),
        ("false", "=", "true", False),
        ("false", "LIKE", "f%", True),
        ("false", "LIKE", "F%", False),
        ("false", "ILIKE", "F_LSE", True),
        ("a%b", "LIKE", "a\\%b", True),
        ("axb", "LIKE", "a\\%b", False),
    ],
)
def test_absent_tags_compare_as_the_database_would(actual, op, expected, result):
    assert holds(actual, op, expected) is result
