"""``modelgate serve``: the API under gunicorn, migrating the embedded default first."""

from __future__ import annotations

from typing import Any

import click

from registry import config
from registry.cli.common import load_settings
from registry.cli.db import bootstrap, require_current_schema, tighten_database, upgrade
from registry.cli.keys import replace_committed_key
from registry.domain import policy_files
from registry.domain.policy import PolicyError


def _check_policies(settings: dict[str, Any]) -> Any:
    """Refuse to start on an invalid policy file, naming the file and line, before any worker
    process is forked (each would otherwise die on it in turn)."""
    try:
        loaded = policy_files.load(settings["POLICY_PATH"])
    except PolicyError as exc:
        raise click.ClickException(f"invalid policy:\n{exc}") from None
    click.echo(f"Modelgate: {len(loaded.policies)} policies from {', '.join(loaded.files)}")
    return loaded


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="gunicorn worker processes (PostgreSQL only; default: MODELGATE_WEB_WORKERS, else "
    "2 x CPUs + 1, at most 8).",
)
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the API with gunicorn (the container's configuration, registry.serve.gunicorn_conf).

    On the embedded default (no MODELGATE_DATABASE_URL) the SQLite file is migrated first and
    one worker process serves with threads. With a server database, migrations are left to
    `modelgate db upgrade` (a deploy step), and the service refuses to start behind them.
    """
    from registry.serve import server

    settings = load_settings()
    _check_policies(settings)
    sqlite = config.is_sqlite(settings["DATABASE_URL"])
    threads = None
    if sqlite:
        tighten_database(settings["DATABASE_URL"])
        upgrade(settings["DATABASE_URL"], quiet=True)
        replace_committed_key(settings)
        bootstrap(settings)
        workers, threads = 1, 8
        where = settings["DATABASE_URL"].removeprefix("sqlite:///")
        click.echo(f"Modelgate: embedded SQLite database at {where}")
    else:
        require_current_schema(settings["DATABASE_URL"])
        workers = workers or settings["WEB_WORKERS"] or server.default_workers()
    click.echo(f"Modelgate: serving http://{host}:{port}/ with {workers} worker(s)")
    server.serve(host=host, port=port, workers=workers, threads=threads)
