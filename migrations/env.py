"""Alembic environment: runs from Flask-Migrate (``flask db``) or with an explicit URL.

On PostgreSQL every run takes an advisory lock (two deploys never migrate at once), sets a
lock timeout (a migration waiting on a busy table gives up instead of stalling traffic) and
runs each revision in its own transaction.
"""

from __future__ import annotations

import logging.config

import sqlalchemy as sa
from alembic import context

from registry.orm import Base

config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata
MIGRATION_LOCK = 0x6D67_6174  # "mgat": the advisory lock key all Modelgate migrations share


def _engine() -> sa.Engine:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return sa.create_engine(url, poolclass=sa.pool.NullPool)
    from flask import current_app  # running under Flask-Migrate

    return current_app.extensions["migrate"].db.engine


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=True,
    )


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = _engine()
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql("SET lock_timeout = '10s'")
            connection.exec_driver_sql("SET statement_timeout = '300s'")
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
            connection.commit()
        try:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if postgres:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
                connection.commit()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
