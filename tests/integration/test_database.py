"""PostgreSQL engine settings: reading requests without a transaction, pings only after idling."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2.extensions
import pytest
import sqlalchemy as sa

from registry import database
from registry.config import normalise_database_url
from registry.database import engine as database_engine

pytestmark = pytest.mark.postgres

IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE
IN_TRANSACTION = psycopg2.extensions.TRANSACTION_STATUS_INTRANS
DEFAULTS = {"DB_STATEMENT_TIMEOUT_MS": 15000}


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    """One pooled connection, so every checkout gets the same one back."""
    url = normalise_database_url(postgres_url)
    options = database.engine_options(url, {"DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0} | DEFAULTS)
    engine = sa.create_engine(url, **options)
    database.configure_engine(engine)
    yield engine
    engine.dispose()


def status(conn: sa.Connection) -> int:
    return conn.connection.dbapi_connection.get_transaction_status()


def test_a_reading_request_opens_no_transaction(engine: sa.Engine) -> None:
    with database.read_only(), engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        assert status(conn) == IDLE  # no BEGIN was sent, so there is nothing to roll back


def test_a_writer_after_a_reader_on_the_same_connection_gets_a_transaction(
    engine: sa.Engine,
) -> None:
    with database.read_only(), engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        reader_pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() == reader_pid
        assert status(conn) == IN_TRANSACTION
        conn.execute(sa.text("CREATE TEMPORARY TABLE scratch (x int)"))
        conn.rollback()
        assert not conn.execute(
            sa.text("SELECT count(*) FROM pg_class WHERE relname = 'scratch'")
        ).scalar_one()


def test_an_explicit_isolation_level_is_left_alone(engine: sa.Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("SELECT 1"))
        assert status(conn) == IDLE


def test_a_connection_dropped_while_idle_is_replaced_at_checkout(
    engine: sa.Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_engine, "PING_AFTER_IDLE", 0.0)
    with engine.connect() as conn:
        first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    admin = sa.create_engine(normalise_database_url(postgres_url), poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    admin.dispose()
    with engine.connect() as conn:  # the ping finds it dead; the pool connects anew
        assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != first
