"""Test harness: one migrated database per backend and xdist worker, an isolated state per test.

Backends: integration tests run on SQLite always and on PostgreSQL when
``MODELGATE_TEST_DATABASE_URL`` points at a server (any database on it; the harness creates
its own). Without it the PostgreSQL cases are skipped, so a fresh machine passes; with
``CI=true`` (or ``MODELGATE_FORBID_SKIPS=1``) a missing service fails the run instead, and so
does any skipped test.

Isolation: on PostgreSQL each test runs inside an outer transaction that is rolled back
(views that commit only release a savepoint); on SQLite the database file is restored from a
migrated template. Tests that need real commits (races between threads, worker processes)
use the ``committed`` fixture, which empties the tables afterwards.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from registry import create_app
from registry.config import normalise_database_url
from registry.database import alembic_config
from registry.domain import checkpoints, identity, policy_files
from registry.domain.artifacts import ArtifactStore
from registry.domain.policy import PolicySet
from registry.domain.principal import system
from registry.extensions import db
from registry.web import refusals
from tests.helpers import RegistryClient, postgres_database

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("MODELGATE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MODELGATE_TEST_REDIS_URL")
STRICT = os.environ.get("CI", "").lower() in {"1", "true"} or bool(
    os.environ.get("MODELGATE_FORBID_SKIPS")
)
SECRET = "test-secret-key"
# One checkpoint signing key per test process, so every app (PostgreSQL's too) can sign.
AUDIT_KEY = checkpoints.new_private_pem()


def require_service(url: str | None, what: str, variable: str) -> str:
    if url:
        return url
    if STRICT:
        pytest.fail(f"{what} is required here (CI): set {variable}.", pytrace=False)
    pytest.skip(f"needs {what}: set {variable}")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _checkout_tag() -> str:
    # Separate databases per checkout, so two worktrees can test at once on one server.
    return hashlib.sha256(str(ROOT).encode()).hexdigest()[:6]


# --------------------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    command.upgrade(_quiet(alembic_config(f"sqlite:///{path}")), "head")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = require_service(PG_URL, "PostgreSQL", "MODELGATE_TEST_DATABASE_URL")
    name = f"mgtest_{_checkout_tag()}_{_worker()}"
    admin_url = sa.engine.make_url(base.replace("postgres://", "postgresql://", 1)).set(
        drivername="postgresql+psycopg2"
    )
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    command.upgrade(_quiet(alembic_config(url)), "head")
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def scratch_postgres_database() -> Iterator[str]:
    """An empty PostgreSQL database of its own, for tests whose server processes would
    otherwise leave committed rows in the worker's shared test database."""
    base = require_service(PG_URL, "PostgreSQL", "MODELGATE_TEST_DATABASE_URL")
    with postgres_database(base, f"mgtest_{_checkout_tag()}_scratch_{os.getpid()}") as url:
        yield url


@pytest.fixture
def scratch_postgres_url(scratch_postgres_database: str) -> str:
    """A scratch database, migrated."""
    url = normalise_database_url(scratch_postgres_database)  # psycopg2, as the service does
    command.upgrade(_quiet(alembic_config(url)), "head")
    return scratch_postgres_database


def _quiet(cfg: Any) -> Any:
    cfg.attributes["configure_logger"] = False
    return cfg


# --------------------------------------------------------------------------- apps


OPEN_POLICIES = str(ROOT / "policies" / "examples" / "open.yaml")
DEFAULT_POLICIES = str(ROOT / "policies")


def make_app(url: str, **overrides: Any) -> Any:
    """An app on ``url``. Unless a test says otherwise it runs under policies/examples/open.yaml,
    so tests of other features move stages at once; governance tests pick their policies."""
    settings = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET,
        "AUDIT_SIGNING_KEY": AUDIT_KEY,
        "TESTING": True,
        "POLICY_PATH": OPEN_POLICIES,
        "AUTH_CACHE_SECONDS": 0,  # tests roll back tokens and bindings; nothing may linger
        "RATE_LIMIT": "",  # the limiter's own tests turn it on
        # Session-wide apps see every test's bad tokens from one address; the limit on
        # failed authentications has tests of its own (test_auth_failures.py).
        "AUTH_FAILURE_LIMIT": "",
        # Webhook tests subscribe real receivers on 127.0.0.1 (over http); the address and
        # scheme rules have tests of their own, with the defaults.
        "WEBHOOK_ALLOW_LOOPBACK": True,
    }
    settings.update(overrides)
    return create_app(settings)


@pytest.fixture(scope="session")
def sqlite_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("sqlite-live") / "registry.db"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}")
    app.config["MODELGATE_SQLITE_PATH"] = path
    return app


@pytest.fixture(scope="session")
def postgres_app(postgres_url: str) -> Iterator[Any]:
    app = make_app(postgres_url)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app(request: pytest.FixtureRequest, backend: str) -> Iterator[Any]:
    """The app on this test's backend, with the database in its pristine migrated state."""
    if backend == "sqlite":
        app = request.getfixturevalue("sqlite_app")
        _restore_sqlite(app, request.getfixturevalue("sqlite_template"))
        app.extensions["modelgate.authenticator"].forget()
        refusals.reset(app)  # no test's refusals count against the next one's
        yield app
        return
    app = request.getfixturevalue("postgres_app")
    app.extensions["modelgate.authenticator"].forget()
    refusals.reset(app)
    if "committed" in request.fixturenames:
        yield app
        return
    with app.app_context():
        engines = db.engines
        engine = engines[None]
        conn = engine.connect()
        outer = conn.begin()
        engines[None] = conn  # every session in this test joins `outer`
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            engines[None] = engine
            outer.rollback()
            conn.close()


def _restore_sqlite(app: Any, template: Path) -> None:
    path: Path = app.config["MODELGATE_SQLITE_PATH"]
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy(template, path)


@pytest.fixture
def committed(app: Any, backend: str) -> Iterator[Any]:
    """For tests whose changes must really commit (threads, other processes)."""
    yield app
    if backend == "postgres":
        truncate_all(app)


def truncate_all(app: Any) -> None:
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            # Replica mode skips user triggers, including the audit table's refusal to be
            # edited: only the test harness ever empties the ledger.
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            tables = [t.name for t in db.metadata.sorted_tables if t.name != "audit_chain_head"]
            conn.exec_driver_sql(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
            )
            conn.exec_driver_sql(
                "UPDATE audit_chain_head SET seq = 0, hash = repeat('0', 64), "
                "at = '1970-01-01T00:00:00Z'"
            )


@pytest.fixture
def use_policies(app: Any) -> Iterator[Any]:
    """Put other policies in force for one test: ``use_policies(path_or_policy_set)``."""
    saved = app.extensions["modelgate.policies"]

    def use(policies: Any) -> Any:
        if not isinstance(policies, PolicySet):
            policies = policy_files.load(policies)
        app.extensions["modelgate.policies"] = policies
        return policies

    yield use
    app.extensions["modelgate.policies"] = saved


@pytest.fixture
def artifact_root(app: Any, tmp_path: Path) -> Iterator[Path]:
    """An empty artifact store for one test."""
    saved = app.extensions["modelgate.artifacts"]
    app.extensions["modelgate.artifacts"] = ArtifactStore(tmp_path / "artifacts")
    yield tmp_path / "artifacts"
    app.extensions["modelgate.artifacts"] = saved


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def registry(client: Any, tokens: Any) -> RegistryClient:
    """The registry, as an admin (service account "admin")."""
    return RegistryClient(client, tokens("admin", name="admin"))


@pytest.fixture
def tokens(app: Any) -> Any:
    """Mint real API tokens: ``tokens("approver", model_pattern="fraud-*", stages=[...])``.

    Each token belongs to a person of its own (``user:<its name>``), as the operator would
    mint them for different people; give ``owner`` to mint several for one person."""
    counter = iter(range(1, 10_000))

    def mint(
        *roles: str,
        model_pattern: str = "*",
        stages: list[str] | None = None,
        name: str | None = None,
        expires_at: Any = None,
        owner: str | None = None,
    ) -> str:
        name = name or f"{'-'.join(roles)}-{next(counter)}"
        with app.app_context():
            info = identity.create_token(
                db.session,
                system(),
                name=name,
                roles=list(roles),
                model_pattern=model_pattern,
                stages=stages,
                expires_at=expires_at,
                owner=owner or f"user:{name}",
            )
            db.session.commit()
        assert info.token is not None
        return info.token

    return mint


@pytest.fixture
def as_role(client: Any, tokens: Any) -> Any:
    """A RegistryClient acting with a fresh token of the given roles."""

    def make(*roles: str, **kwargs: Any) -> RegistryClient:
        return RegistryClient(client, tokens(*roles, **kwargs))

    return make


# --------------------------------------------------------------------------- CI strictness


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not STRICT or hasattr(session.config, "workerinput"):  # xdist workers report upward
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(
                f"FAILED: {skipped} test(s) skipped; in CI every test must run.", red=True
            )
