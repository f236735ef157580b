"""Domain-level governance tests: principals with roles, policies from YAML, a real database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from registry.domain import policy_files, registered_models, transitions, versions
from registry.domain.policy import PolicySet
from registry.domain.principal import Grant, Principal, Role
from registry.domain.stages import Stage
from registry.extensions import db
from tests.conftest import DEFAULT_POLICIES


def person(name: str, *grants: Grant) -> Principal:
    return Principal(subject=name, kind="user", grants=grants)


ADMIN = person("root", Grant(Role.ADMIN))
ALICE = person("alice", Grant(Role.CONTRIBUTOR))  # files requests
BOB = person("bob", Grant(Role.APPROVER), Grant(Role.CONTRIBUTOR))
CAROL = person("carol", Grant(Role.APPROVER))
ERIN = person("erin", Grant(Role.APPROVER))
DAVE = person("dave", Grant(Role.APPROVER, stages=frozenset({Stage.STAGING})))  # Staging only
VIEWER = person("vic", Grant(Role.VIEWER))


def policies_from(text: str) -> PolicySet:
    return policy_files.parse_document(text.encode(), "test.yaml")


@pytest.fixture
def session(app: Any) -> Iterator[Any]:
    with app.app_context():
        yield db.session


@pytest.fixture
def defaults() -> PolicySet:
    return policy_files.load(DEFAULT_POLICIES)


@pytest.fixture
def fraud(session: Any) -> str:
    """A model with three versions: 1 and 2 in Staging (ready for Production under the
    defaults, which admit it only from Staging), 3 in None. Version 2 is tagged as the
    gates expect."""
    registered_models.create_model(session, ADMIN, name="fraud")
    for i in range(3):
        versions.create_version(
            session,
            ADMIN,
            "fraud",
            source=f"s3://models/fraud/{i + 1}",
            description="a good model" if i == 1 else None,
            tags={"metric.auc": "0.95", "validation": "passed", "owner": "risk"} if i == 1 else {},
        )
    defaults = policy_files.load(DEFAULT_POLICIES)
    for version in (1, 2):
        transitions.request_transition(
            session, ADMIN, defaults, "fraud", version, to_stage="Staging"
        )
    session.commit()
    return "fraud"


def stage_of(session: Any, name: str, version: int) -> str:
    return versions.get_version(session, ADMIN, name, version).stage


NOW = dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC)  # a Wednesday
