"""Property-based fuzzing of the native API against its own OpenAPI document (schemathesis).

Every operation gets a bounded number of generated requests, valid and invalid, sent as an
admin to a registry that holds something for them to act on. Each response must not be a
5xx, and must match the documented status codes, content type and schema. The run is
seeded (derandomised), so a failure reproduces, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from registry.config import normalise_database_url
from registry.database import alembic_config
from registry.domain import identity
from registry.domain.principal import system
from registry.extensions import db
from tests.conftest import PG_URL, _checkout_tag, _quiet, make_app, require_service
from tests.helpers import RegistryClient, postgres_database

EXAMPLES = int(os.environ.get("MODELGATE_FUZZ_EXAMPLES", "15"))


def seed(app: Any) -> str:
    """Migrate the app's database and give it a model, versions, a pending request and a
    webhook to act on; an admin token to call it with."""
    url = app.config["DATABASE_URL"]
    command.upgrade(_quiet(alembic_config(normalise_database_url(url))), "head")
    with app.app_context():
        admin = identity.create_token(db.session, system(), name="fuzzer", roles=["admin"])
        db.session.commit()
    client = RegistryClient(app.test_client(), admin.token)
    client.create_model("fraud", tags={"team": "risk"})
    for _ in range(3):
        client.create_version("fraud", tags={"metric.auc": "0.95"})
    client.transition("fraud", 1, "Staging")
    client.put("/api/v1/models/fraud/aliases/champion", {"version": 1})
    client.post("/api/v1/models/fraud/versions/2/transitions", {"to_stage": "Staging"})
    client.post("/api/v1/webhooks", {"url": "https://hooks.example.com/x", "events": ["*"]})
    # A version from the artifact store, with a digest and a manifest.
    client.call("PUT", "/api/2.0/mlflow-artifacts/artifacts/fraud/v4/MLmodel", 200, data=b"{}")
    client.create_version("fraud", "mlflow-artifacts:/fraud/v4")
    return admin.token


# schemathesis parametrizes at import time, from the schema; building an app touches no
# database, so both apps exist now and their databases are made and seeded by the fixtures.
WORKDIR = tempfile.mkdtemp(prefix="modelgate-fuzz-")
SQLITE_URL = f"sqlite:///{WORKDIR}/registry.db"
PG_NAME = f"mgtest_{_checkout_tag()}_fuzz_{os.getpid()}"
PG_TARGET = (
    sa.engine.make_url(PG_URL).set(drivername="postgresql", database=PG_NAME) if PG_URL else None
)
APPS = {"sqlite": make_app(SQLITE_URL, ARTIFACT_ROOT=f"{WORKDIR}/artifacts-sqlite")}
if PG_TARGET is not None:
    APPS["postgres"] = make_app(
        PG_TARGET.render_as_string(hide_password=False),
        ARTIFACT_ROOT=f"{WORKDIR}/artifacts-postgres",
    )


@pytest.fixture(scope="module")
def sqlite_token() -> str:
    return seed(APPS["sqlite"])


@pytest.fixture(scope="module")
def postgres_token() -> Iterator[str]:
    base = require_service(PG_URL, "PostgreSQL", "MODELGATE_TEST_DATABASE_URL")
    with postgres_database(base, PG_NAME):
        yield seed(APPS["postgres"])
        with APPS["postgres"].app_context():
            db.engine.dispose()


FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples every run: a failure reproduces
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def api(backend: str) -> Any:
    # Without PostgreSQL the schema comes from the SQLite app; test_postgres then fails in
    # CI (or skips elsewhere) at its fixture, as every PostgreSQL test does.
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APPS.get(backend, APPS["sqlite"]))


# What every response must satisfy. Not "schema-valid data is accepted": the domain's rules
# (reserved alias names, name and glob grammar, uniqueness, stage moves, policies) refuse
# much that OpenAPI 3.0 cannot describe, and such a refusal is a documented 4xx.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def call(case: Any, token: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=CHECKS)


@api("sqlite").parametrize()
@FUZZ
def test_sqlite(case, sqlite_token):
    call(case, sqlite_token)


@pytest.mark.postgres
@api("postgres").parametrize()
@FUZZ
def test_postgres(case, postgres_token):
    call(case, postgres_token)
