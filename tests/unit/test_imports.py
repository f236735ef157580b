"""The importer's pure parts: the three-way verdict, the source URL, the glob pushed down."""

from __future__ import annotations

import pytest

from registry.domain.errors import InvalidArgument
from registry.domain.imports import SourceModel, SourceVersion, check_model
from registry.domain.imports.sync import _merge
from registry.importing.mlflow_source import SourceError, glob_to_filter, normalise_url


@pytest.mark.parametrize(
    ("base", "theirs", "ours", "verdict"),
    [
        ("a", "a", "a", "leave"),  # nothing changed
        ("a", "a", "b", "leave"),  # only Modelgate changed: its business
        ("a", "b", "a", "apply"),  # only the source changed: bring it over
        ("a", "b", "b", "leave"),  # both made the same change
        ("a", "b", "c", "conflict"),
        (None, "b", None, "apply"),  # added at the source
        ("a", None, "a", "apply"),  # removed at the source
        ("a", None, "c", "conflict"),
    ],
)
def test_three_way_verdict(base, theirs, ours, verdict) -> None:
    assert _merge(base, theirs, ours) == verdict


def test_the_source_url_is_its_identity_without_credentials() -> None:
    assert normalise_url("HTTPS://user:pw@MLflow.Example.com:8443/reg/") == (
        "https://mlflow.example.com:8443/reg"
    )
    with pytest.raises(SourceError, match="not an http"):
        normalise_url("mlflow.example.com")


def test_a_glob_is_pushed_down_as_a_like_filter_when_it_can_be() -> None:
    assert glob_to_filter("fraud-*") == "name LIKE 'fraud-%'"
    assert glob_to_filter("a?c") == "name LIKE 'a_c'"
    assert glob_to_filter("*") is None
    assert glob_to_filter("[ab]*") is None  # LIKE has no classes: filtered here instead


def test_an_alias_must_point_at_a_listed_version() -> None:
    model = SourceModel("m", aliases={"champion": 3}, versions=(SourceVersion(1, "s3://x"),))
    with pytest.raises(InvalidArgument, match="version 3"):
        check_model(model)
