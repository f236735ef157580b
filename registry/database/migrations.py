"""The Alembic migrations: where the scripts are, and which revision a database is at.

Shared by the CLI (``modelgate db ...``), ``/readyz`` (is the schema at this code's head?)
and the tests, which migrate their databases with the same scripts.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session


def migrations_directory() -> Path:
    """The Alembic scripts: inside the installed package, or beside it in a source tree."""
    here = Path(__file__).resolve().parents[1]  # registry/
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
