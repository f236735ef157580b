"""The ``modelgate`` command line: serve, migrate, and (in later chapters) operate the registry."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from registry import config, database
from registry.domain import policy_files
from registry.domain.policy import PolicyError


def _settings() -> dict[str, Any]:
    try:
        return config.load()
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _check_policies(settings: dict[str, Any]) -> None:
    """Refuse to start on an invalid policy file, naming the file and line, before any worker
    process is forked (each would otherwise die on it in turn)."""
    try:
        loaded = policy_files.load(settings["POLICY_PATH"])
    except PolicyError as exc:
        raise click.ClickException(f"invalid policy:\n{exc}") from None
    click.echo(f"Modelgate: {len(loaded.policies)} policies from {', '.join(loaded.files)}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelgate")
def main() -> None:
    """Modelgate: a model registry with a governance workflow."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="gunicorn worker processes (PostgreSQL only; default: 2 x CPUs + 1, at most 8).",
)
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the API with gunicorn.

    On the embedded default (no MODELGATE_DATABASE_URL) the SQLite file is migrated first and
    one worker process serves with threads. With a server database, migrations are left to
    `modelgate db upgrade` (a deploy step), and the service refuses to start behind them.
    """
    settings = _settings()
    _check_policies(settings)
    sqlite = config.is_sqlite(settings["DATABASE_URL"])
    if sqlite:
        _upgrade(settings["DATABASE_URL"], quiet=True)
        workers, threads = 1, 8
        where = settings["DATABASE_URL"].removeprefix("sqlite:///")
        click.echo(f"Modelgate: embedded SQLite database at {where}")
    else:
        _require_current_schema(settings["DATABASE_URL"])
        workers = workers or min(2 * (os.cpu_count() or 1) + 1, 8)
        threads = 4
    click.echo(f"Modelgate: serving http://{host}:{port}/ with {workers} worker(s)")
    from registry.server import run_gunicorn

    run_gunicorn(host=host, port=port, workers=workers, threads=threads)


@main.group()
def db() -> None:
    """Database schema: upgrade, current revision, drift check."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations to MODELGATE_DATABASE_URL (or the embedded SQLite file)."""
    _upgrade(_settings()["DATABASE_URL"], revision=revision)
    click.echo("Database schema is up to date.")


@db.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    from alembic import command

    command.current(database.alembic_config(_settings()["DATABASE_URL"]))


@db.command("check")
def db_check() -> None:
    """Fail if the ORM and the migrated schema differ (alembic check)."""
    from alembic import command
    from alembic.util.exc import CommandError

    try:
        command.check(database.alembic_config(_settings()["DATABASE_URL"]))
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("No drift between the models and the migrations.")


@main.group()
def policies() -> None:
    """Governance policies: validate and show them."""


@policies.command("check")
@click.argument("path", required=False, type=click.Path(exists=True))
def policies_check(path: str | None) -> None:
    """Validate policy files (PATH, or MODELGATE_POLICY_PATH, or ./policies) and list them."""
    try:
        loaded = policy_files.load(path or _settings()["POLICY_PATH"])
    except PolicyError as exc:
        raise click.ClickException(f"invalid policy:\n{exc}") from None
    for item in loaded.policies:
        scope = f"{item.stage.value}" + (
            f" from {'/'.join(sorted(s.value for s in item.from_stages))}"
            if item.from_stages
            else ""
        )
        click.echo(
            f"{item.name:<28} into {scope:<28} models {item.models:<16} "
            f"approvals {item.min_approvals}  ({item.source})"
        )
    click.echo(f"{len(loaded.policies)} policies OK, digest {loaded.digest[:12]}")


@main.group()
def requests() -> None:
    """Transition requests: housekeeping."""


@requests.command("expire")
def requests_expire() -> None:
    """Record as expired the pending requests whose time is up (the periodic sweep, by hand)."""
    from registry import create_app
    from registry.domain import transitions
    from registry.extensions import db

    app = create_app()
    with app.app_context():
        expired = transitions.expire_due(db.session)
        db.session.commit()
    click.echo(f"{len(expired)} request(s) expired.")


def _upgrade(url: str, revision: str = "head", quiet: bool = False) -> None:
    from alembic import command

    cfg = database.alembic_config(url)
    if quiet:
        cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, revision)


def _require_current_schema(url: str) -> None:
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
