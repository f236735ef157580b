"""``modelgate db``: the schema (upgrade, current, check), the application role, and what an
upgrade of an empty or embedded registry does besides: private files, the first admin token.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from registry import config, database
from registry.cli.common import load_settings
from registry.cli.keys import replace_committed_key
from registry.config import keyfiles


@click.group()
def db() -> None:
    """Database schema: upgrade, current revision, drift check."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations to MODELGATE_DATABASE_URL (or the embedded SQLite file).

    On an empty registry this also creates the first admin API token: the one in
    MODELGATE_BOOTSTRAP_TOKEN, or a generated one, printed once.
    """
    settings = load_settings()
    if config.is_sqlite(settings["DATABASE_URL"]):
        tighten_database(settings["DATABASE_URL"])
    upgrade(settings["DATABASE_URL"], revision=revision)
    click.echo("Database schema is up to date.")
    if settings["DATABASE_APP_ROLE"]:
        _grant(settings["DATABASE_URL"], settings["DATABASE_APP_ROLE"])
    if revision == "head":
        replace_committed_key(settings)
        bootstrap(settings)


@db.command("grant")
@click.option(
    "--role",
    help="The application role (default: MODELGATE_DATABASE_APP_ROLE).",
)
def db_grant(role: str | None) -> None:
    """Grant the application role what the service needs, and no more (PostgreSQL).

    Run as the schema's owner (the migration role). The role may read and write the
    registry's tables, but only INSERT and SELECT on the audit ledger; `db upgrade` does
    this itself after every upgrade when MODELGATE_DATABASE_APP_ROLE is set.
    """
    settings = load_settings()
    role = role or settings["DATABASE_APP_ROLE"]
    if not role:
        raise click.BadParameter("name the role, or set MODELGATE_DATABASE_APP_ROLE.")
    _grant(settings["DATABASE_URL"], role)


def _grant(url: str, role: str) -> None:
    import sqlalchemy as sa

    from registry.database.roles import RoleError, grant_application_role

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            grant_application_role(connection, role)
    except RoleError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(
        f"Granted {role} the application's privileges (INSERT and SELECT only on the audit ledger)."
    )


@db.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    from alembic import command

    command.current(database.alembic_config(load_settings()["DATABASE_URL"]))


@db.command("check")
def db_check() -> None:
    """Fail if the ORM and the migrated schema differ (alembic check)."""
    from alembic import command
    from alembic.util.exc import CommandError

    try:
        command.check(database.alembic_config(load_settings()["DATABASE_URL"]))
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("No drift between the models and the migrations.")


def upgrade(url: str, revision: str = "head", quiet: bool = False) -> None:
    from alembic import command

    cfg = database.alembic_config(url)
    if quiet:
        cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, revision)


def require_current_schema(url: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with Session(engine) as session:
            current = database.current_revisions(session)
    except sa.exc.OperationalError as exc:
        raise click.ClickException(f"Cannot reach the database: {exc.orig}") from None
    finally:
        engine.dispose()
    if current != database.head_revisions():
        raise click.ClickException(
            "The database schema is not at the current revision; run `modelgate db upgrade` "
            "first (in Kubernetes, the chart's migration job does this)."
        )


def tighten_database(url: str) -> None:
    """A database file others may read (made before files were private, or copied in) is
    made private, and the operator told once: what it held may have been read."""
    from pathlib import Path

    import sqlalchemy as sa

    database = sa.engine.make_url(url).database
    if not database or database == ":memory:":
        return
    for path in keyfiles.tighten_database(Path(database)):
        click.echo(
            f"Modelgate: {path} could be read by other users of this machine; it is now "
            "private (mode 0600). If someone else may have copied it, revoke the API tokens "
            "and rotate the webhook secrets it held (SECURITY.md).",
            err=True,
        )


def bootstrap(settings: dict[str, Any]) -> None:
    """Give an empty registry its first admin token (and say so, once)."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from registry.domain import identity, on_commit

    on_commit.install()
    engine = sa.create_engine(settings["DATABASE_URL"], poolclass=sa.pool.NullPool)
    try:
        with Session(engine) as session:
            secret = identity.ensure_bootstrap_token(
                session, settings["BOOTSTRAP_TOKEN"], settings["BOOTSTRAP_TOKEN_TTL"]
            )
            session.commit()
    finally:
        engine.dispose()
    if secret is None:
        return
    lifetime = settings["BOOTSTRAP_TOKEN_TTL"]
    expiry = (
        f"it expires in {_plain_duration(lifetime)} (MODELGATE_BOOTSTRAP_TOKEN_TTL)"
        if lifetime
        else "it never expires"
    )
    if settings["BOOTSTRAP_TOKEN"]:
        click.echo(
            f"Modelgate: MODELGATE_BOOTSTRAP_TOKEN is now the registry's admin token; {expiry}."
        )
    else:
        click.echo(
            "Modelgate: created the registry's first admin API token. It is shown this once,\n"
            f"and {expiry}: keep it (e.g. export MODELGATE_TOKEN=...) and mint the tokens "
            "to keep with `modelgate token create`:\n"
            f"  {secret}"
        )


def _plain_duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
