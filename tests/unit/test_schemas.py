"""Hand-written serialisers against the marshmallow schemas they stand in for."""

from __future__ import annotations

import datetime as dt

import pytest

from registry.domain.readmodels import ModelInfo, VersionInfo
from registry.schemas.registered_models import ModelOut, dump_model
from registry.schemas.versions import VersionOut, dump_version

WHEN = dt.datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "info",
    [
        VersionInfo(
            name="fraud",
            version=3,
            source="s3://models/fraud/3",
            run_id="abc",
            run_link="https://ci.example.com/runs/1",
            description="Card fraud scorer",
            tags={"metric.auc": "0.93", "team": "risk"},
            stage="Production",
            aliases=["champion", "stable"],
            status="READY",
            status_message="ok",
            created_at=WHEN,
            updated_at=WHEN.astimezone(dt.timezone(dt.timedelta(hours=2))),
            created_by="service:ci",
            digest="sha256:" + "ab" * 32,
        ),
        VersionInfo(
            name="Ünïcode model",
            version=1,
            source="/models/x",
            run_id=None,
            run_link=None,
            description=None,
            tags={},
            stage="None",
            aliases=[],
            status="READY",
            status_message=None,
            created_at=WHEN,
            updated_at=WHEN,
            created_by=None,
        ),
    ],
)
def test_dump_version_is_the_schemas_dump(info: VersionInfo) -> None:
    assert dump_version(info) == VersionOut().dump(info)


@pytest.mark.parametrize(
    "info",
    [
        ModelInfo(
            name="fraud",
            description="Card fraud scorer",
            tags={"team": "risk"},
            aliases={"champion": 3, "stable": 2},
            latest_versions={"None": 4, "Production": 3},
            created_at=WHEN,
            updated_at=WHEN.astimezone(dt.timezone(dt.timedelta(hours=-5))),
            created_by="service:ci",
        ),
        ModelInfo(
            name="empty",
            description=None,
            tags={},
            aliases={},
            latest_versions={},
            created_at=WHEN,
            updated_at=WHEN,
            created_by=None,
        ),
    ],
)
def test_dump_model_is_the_schemas_dump(info: ModelInfo) -> None:
    assert dump_model(info) == ModelOut().dump(info)
