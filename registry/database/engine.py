"""Engine settings per database.

SQLite (the embedded default) gets what a server database gives for free: foreign keys on,
write-ahead logging so readers never wait for the writer, byte-wise LIKE as on PostgreSQL,
and ``BEGIN IMMEDIATE`` for transactions that may write, so two writers queue on the lock
instead of one failing when both try to upgrade a read lock.

PostgreSQL gets a sized pool and a statement timeout. Requests that only read (GET, HEAD)
run their statements in autocommit: psycopg2 would otherwise send BEGIN before the first
statement and ROLLBACK at the end, two round trips around the one query a resolve makes,
and under READ COMMITTED each statement sees its own snapshot either way. No GET handler
writes; were one to, each of its statements would commit on its own.
A connection idle in the pool for ``PING_AFTER_IDLE`` seconds is pinged before it is handed
out (a restarted server or a dropped idle connection costs one failed checkout, not a failed
request); one reused sooner is not, since it answered moments ago. Should the server go away
in that moment, the requests then in flight fail with 503 and the pool is renewed, as
without a ping.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from registry.config import is_sqlite

# Set for requests that only read (GET, HEAD): their SQLite transactions need no write lock,
# and on PostgreSQL they need no transaction at all.
reads_only: contextvars.ContextVar[bool] = contextvars.ContextVar("reads_only", default=False)

PING_AFTER_IDLE = 5.0


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    token = reads_only.set(True)
    try:
        yield
    finally:
        reads_only.reset(token)


def engine_options(url: str, settings: dict[str, Any]) -> dict[str, Any]:
    if is_sqlite(url):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    options: list[str] = []
    if settings["DB_STATEMENT_TIMEOUT_MS"]:
        options.append(f"-c statement_timeout={int(settings['DB_STATEMENT_TIMEOUT_MS'])}")
    return {
        "pool_size": settings["DB_POOL_SIZE"],
        "max_overflow": settings["DB_MAX_OVERFLOW"],
        "pool_pre_ping": False,  # configure_engine pings connections that sat idle instead
        "pool_recycle": 1800,
        "pool_timeout": 10,
        "connect_args": {"application_name": "modelgate", "options": " ".join(options)},
    }


def configure_engine(engine: sa.Engine) -> None:
    if engine.dialect.name == "postgresql":
        _configure_postgresql(engine)
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (it would BEGIN lazily and
        # never IMMEDIATE); _on_begin below issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA foreign_keys = ON",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA case_sensitive_like = ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN" if reads_only.get() else "BEGIN IMMEDIATE")


def _configure_postgresql(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError(str(exc)) from exc  # the pool connects anew

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # Every transaction states its mode, so a connection a reading request left in
        # autocommit never serves a writing one that way.
        if "isolation_level" in connection.get_execution_options():
            return  # chosen explicitly (AUTOCOMMIT for ANALYZE, say): SQLAlchemy's business
        dbapi_connection = connection.connection.dbapi_connection
        wanted = reads_only.get()
        if dbapi_connection is not None and dbapi_connection.autocommit != wanted:
            dbapi_connection.autocommit = wanted
