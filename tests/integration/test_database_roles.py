"""Least privilege on PostgreSQL: the migration role owns the schema, the service runs as an
application role that PostgreSQL itself stops from editing the ledger or lifting its guard.

Real roles on the real server (unique names, dropped afterwards), a scratch database owned
by the migration role, migrated by the real `modelgate db upgrade`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from registry.config import normalise_database_url
from registry.domain import audit, identity
from registry.domain.principal import system
from registry.extensions import db
from tests.conftest import PG_URL, SECRET, make_app, require_service
from tests.helpers import MODELGATE, RegistryClient, clean_env

pytestmark = pytest.mark.postgres


def _admin() -> sa.Engine:
    base = require_service(PG_URL, "PostgreSQL", "MODELGATE_TEST_DATABASE_URL")
    url = sa.engine.make_url(base).set(drivername="postgresql+psycopg2")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@pytest.fixture
def roles() -> Iterator[dict[str, str]]:
    """An owner and an application role, both LOGIN and neither superuser. Requested before
    the scratch database, so they are dropped after it."""
    suffix = f"{os.getpid()}_{os.urandom(3).hex()}"
    names = {"owner": f"mgtest_owner_{suffix}", "app": f"mgtest_app_{suffix}"}
    admin = _admin()
    with admin.connect() as conn:
        for name in names.values():
            conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN PASSWORD 'pw-{name}'")
    yield names
    with admin.connect() as conn:
        for name in names.values():
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {name}")
    admin.dispose()


def as_role(url: str, role: str) -> str:
    return (
        sa.engine.make_url(url)
        .set(username=role, password=f"pw-{role}")
        .render_as_string(hide_password=False)
    )


def engine_url(url: str) -> str:
    return normalise_database_url(url)


@pytest.fixture
def two_roles(roles, scratch_postgres_database) -> dict[str, str]:
    """The scratch database owned by the migration role and migrated by it, granting the
    application role on the way: the two URLs."""
    name = sa.engine.make_url(scratch_postgres_database).database
    admin = _admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" OWNER TO {roles["owner"]}')
    admin.dispose()
    urls = {k: as_role(scratch_postgres_database, v) for k, v in roles.items()}
    upgraded = subprocess.run(  # noqa: S603 - our own CLI
        [MODELGATE, "db", "upgrade"],
        env=clean_env(
            MODELGATE_DATABASE_URL=urls["owner"],
            MODELGATE_SECRET_KEY=SECRET,
            MODELGATE_DATABASE_APP_ROLE=roles["app"],
            MODELGATE_BOOTSTRAP_TOKEN="bootstrap-token-for-role-tests-0123456789",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"Granted {roles['app']}" in upgraded.stdout
    return {**urls, **{f"{k}_role": v for k, v in roles.items()}}


def test_the_application_role_serves_the_registry(two_roles):
    app = make_app(two_roles["app"])
    try:
        with app.app_context():
            token = identity.create_token(db.session, system(), name="a", roles=["admin"])
            db.session.commit()
        registry = RegistryClient(app.test_client(), token.token)
        registry.create_model("fraud")
        registry.create_version("fraud")
        registry.transition("fraud", 1, "Production")
        registry.put("/api/v1/models/fraud/aliases/champion", {"version": 1})
        registry.delete("/api/v1/models/fraud/aliases/champion", expect=200)
        hook = registry.post(
            "/api/v1/webhooks", {"url": "https://hooks.example.com/x", "events": ["*"]}, expect=201
        ).get_json()
        registry.post(f"/api/v1/webhooks/{hook['id']}/test", expect=202)
        assert registry.get("/api/v1/audit/verify").get_json()["ok"] is True
        registry.get("/api/v1/audit/checkpoint")
        assert app.test_client().get("/readyz").status_code == 200
        from registry.cli.db import require_current_schema

        require_current_schema(engine_url(two_roles["app"]))  # `modelgate serve`'s check
        with app.app_context():
            from registry.delivery.embedded import publish_checkpoint

            app.config["AUDIT_CHECKPOINT_SECONDS"] = 1
            assert publish_checkpoint(app) is not None
            assert audit.verify(db.session, system()).ok
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'user:mallory'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_events_no_change ON audit_events",
        "SET session_replication_role = replica",
        "UPDATE alembic_version SET version_num = '0001'",
        "DELETE FROM audit_chain_head",
        "INSERT INTO audit_chain_head (id, seq, hash, at) VALUES (2, 0, '', now())",
    ],
)
def test_postgres_refuses_the_application_role_what_would_rewrite_history(two_roles, statement):
    app_engine = sa.create_engine(engine_url(two_roles["app"]), poolclass=sa.pool.NullPool)
    try:
        with app_engine.connect() as conn:  # refused for what it is, not for lack of access
            conn.exec_driver_sql("SELECT count(*) FROM audit_events").scalar_one()
            conn.exec_driver_sql("UPDATE webhooks SET description = description")
            conn.exec_driver_sql("UPDATE audit_chain_head SET seq = seq")
            conn.rollback()
        with pytest.raises(sa.exc.ProgrammingError) as refused, app_engine.begin() as conn:
            conn.exec_driver_sql(statement)
        assert refused.value.orig.pgcode in ("42501",), refused.value  # insufficient_privilege
    finally:
        app_engine.dispose()


def test_the_owner_could_lift_the_guard_which_is_why_the_service_must_not_run_as_it(two_roles):
    owner = sa.create_engine(engine_url(two_roles["owner"]), poolclass=sa.pool.NullPool)
    try:
        with owner.connect() as conn:
            trans = conn.begin()
            conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change")
            trans.rollback()  # shown possible, and undone
    finally:
        owner.dispose()


def test_upgrading_again_grants_again_and_refuses_the_owner_as_the_app_role(two_roles):
    env = clean_env(MODELGATE_DATABASE_URL=two_roles["owner"], MODELGATE_SECRET_KEY=SECRET)
    again = subprocess.run(  # noqa: S603 - our own CLI
        [MODELGATE, "db", "grant", "--role", two_roles["app_role"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    owner = subprocess.run(  # noqa: S603 - our own CLI
        [MODELGATE, "db", "grant", "--role", two_roles["owner_role"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert owner.returncode == 1
    assert "owns the schema" in owner.stderr
    ghost = subprocess.run(  # noqa: S603 - our own CLI
        [MODELGATE, "db", "grant", "--role", "no_such_role_here"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ghost.returncode == 1
    assert "does not exist" in ghost.stderr
