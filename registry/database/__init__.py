"""Database plumbing: how engines are set up, the Alembic migrations, PostgreSQL roles.

- :mod:`~registry.database.engine`: engine settings per database (SQLite pragmas and
  locking, the PostgreSQL pool, statement timeout and read-only requests);
- :mod:`~registry.database.migrations`: where the Alembic scripts are, which revision a
  database is at;
- :mod:`~registry.database.roles`: least privilege on PostgreSQL (``modelgate db grant``).

The tables themselves are in :mod:`registry.orm`, the session in :mod:`registry.extensions`.
"""

from registry.database.engine import configure_engine, engine_options, read_only, reads_only
from registry.database.migrations import (
    alembic_config,
    current_revisions,
    head_revisions,
    known_revisions,
    migrations_directory,
)

__all__ = [
    "alembic_config",
    "configure_engine",
    "current_revisions",
    "engine_options",
    "head_revisions",
    "known_revisions",
    "migrations_directory",
    "read_only",
    "reads_only",
]
