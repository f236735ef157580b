"""Engine settings per database, and the Alembic helpers the CLI and /readyz share.

SQLite (the embedded default) gets what a server database gives for free: foreign keys on,
write-ahead logging so readers never wait for the writer, byte-wise LIKE as on PostgreSQL,
and ``BEGIN IMMEDIATE`` for transactions that may write, so two writers queue on the lock
instead of one failing when both try to upgrade a read lock.
PostgreSQL gets a sized pool, pre-ping (a restarted server costs one failed checkout, not a
failed request) and a statement timeout.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from registry.config import is_sqlite

# Set for requests that only read (GET, HEAD): their SQLite transactions need no write lock.
sqlite_read_only: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sqlite_read_only", default=False
)


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    token = sqlite_read_only.set(True)
    try:
        yield
    finally:
        sqlite_read_only.reset(token)


def engine_options(url: str, settings: dict[str, Any]) -> dict[str, Any]:
    if is_sqlite(url):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    options: list[str] = []
    if settings["DB_STATEMENT_TIMEOUT_MS"]:
        options.append(f"-c statement_timeout={int(settings['DB_STATEMENT_TIMEOUT_MS'])}")
    return {
        "pool_size": settings["DB_POOL_SIZE"],
        "max_overflow": settings["DB_MAX_OVERFLOW"],
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "pool_timeout": 10,
        "connect_args": {"application_name": "modelgate", "options": " ".join(options)},
    }


def configure_engine(engine: sa.Engine) -> None:
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
        connection.exec_driver_sql("BEGIN" if sqlite_read_only.get() else "BEGIN IMMEDIATE")


def migrations_directory() -> Path:
    """The Alembic scripts: inside the installed package, or beside it in a source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_migrations", here.parent / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("Alembic migrations directory not found")


def alembic_config(url: str | None = None) -> AlembicConfig:
    directory = migrations_directory()
    cfg = AlembicConfig(str(directory / "alembic.ini"))
    cfg.set_main_option("script_location", str(directory))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.cache
def head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision this code ships, head or not."""
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(revision.revision for revision in script.walk_revisions())


def current_revisions(session: Session) -> frozenset[str]:
    try:
        rows = session.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        return frozenset(rows)
    except sa.exc.ProgrammingError:
        session.rollback()
        return frozenset()
    except sa.exc.OperationalError as exc:
        session.rollback()
        if "no such table" in str(exc):  # SQLite's way of saying "never migrated"
            return frozenset()
        raise
