"""``modelgate import``: bring models over from another registry (MLflow), and keep them in step."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

import click

from registry.cli.common import operator_session
from registry.domain.principal import system


@click.group("import")
def import_group() -> None:
    """Bring models over from another registry (and keep them in step during a move)."""


@import_group.command("mlflow")
@click.option(
    "--from",
    "url",
    required=True,
    help="The MLflow server (its tracking URI), e.g. https://mlflow.example.com.",
)
# No MLFLOW_TRACKING_* fallbacks: in a shell set up for Modelgate's own MLflow layer those
# hold a Modelgate token, which must not be sent to the old server by omission.
@click.option("--token", help="Bearer token for the source.")
@click.option("--username", help="Basic-auth user for the source.")
@click.option("--password", help="Basic-auth password for the source.")
@click.option("--filter", "glob", help="Only the models whose names match this glob (fraud-*).")
@click.option("--dry-run", is_flag=True, help="Write nothing; report what would be done.")
@click.option(
    "--sync",
    is_flag=True,
    help="Also bring over what changed at the source since the last run: new versions, "
    "tags, descriptions (conflicts are reported, never overwritten). Stage and alias moves "
    "there are never applied as they are: see --source-moves.",
)
@click.option(
    "--source-moves",
    type=click.Choice(["request", "skip"]),
    default="request",
    show_default=True,
    help="With --sync, what a stage moved at the source becomes: a transition request under "
    "the policy here (filed by system:import, which approves nothing), or only a line in "
    "the report. Aliases move only where the alias rules let any contributor move them.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Requests to the source at once (each reads up to 50 models' versions).",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 20),
    default=5,
    show_default=True,
    help="Retries of a read that fails on a connection error, 408, 429 or 5xx (with backoff).",
)
def import_mlflow(
    url: str,
    token: str | None,
    username: str | None,
    password: str | None,
    glob: str | None,
    dry_run: bool,
    sync: bool,
    source_moves: str,
    concurrency: int,
    retries: int,
) -> None:
    """Import registered models, versions (numbers kept), stages, aliases and tags.

    The first import of a model reproduces its stages and aliases as they are, without
    approvals, each change recorded as an `import` audit event; policies apply from then on:
    with --sync, a stage moved at the source becomes a transition request here, and a model
    new at the source comes in with its versions in None. Safe to repeat: a second run
    changes nothing. Exit status: 0 done, 1 some model failed (or the source could not be
    read), 3 conflicts were reported or moves at the source held back (left for a person).
    """
    from registry.importing import run
    from registry.importing.mlflow_source import MlflowSource, SourceError

    if username is not None and password is None:
        raise click.BadParameter("--username needs --password.", param_hint="--password")
    try:
        source = MlflowSource(
            url,
            token=token,
            username=username,
            password=password,
            pool_size=concurrency,
            retries=retries,
        )
    except SourceError as exc:
        raise click.ClickException(exc.message) from None
    started = time.monotonic()
    with operator_session() as session, _import_progress(dry_run) as report:
        from flask import current_app

        try:
            summary = run.run(
                session,
                system("import"),
                source,
                policies=current_app.extensions["modelgate.policies"],
                glob=glob,
                sync=sync,
                source_moves=source_moves,
                dry_run=dry_run,
                concurrency=concurrency,
                report=report,
            )
        except SourceError as exc:
            raise click.ClickException(exc.message) from None
    _print_summary(summary, source.url, dry_run, time.monotonic() - started)
    if summary.errors:
        sys.exit(1)
    if summary.conflicts or summary.held_moves:
        sys.exit(3)


@contextlib.contextmanager
def _import_progress(dry_run: bool) -> Iterator[Any]:
    """A progress bar on a terminal; otherwise one plain line per model (for logs)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    def line(outcome: Any) -> str:
        text = f"{outcome.model}: {'would be ' if dry_run else ''}{outcome.action}"
        if outcome.changes:
            text += (
                f" ({outcome.versions} versions, {outcome.stages} stages, "
                f"{outcome.requests} requests, {outcome.aliases} aliases, "
                f"{outcome.tags} tags, {outcome.descriptions} descriptions)"
            )
        details = [*outcome.conflicts, *outcome.held, *outcome.notes]
        if outcome.error:
            details.insert(0, outcome.error)
        return text + "".join(f"\n  - {d}" for d in details)

    if not sys.stderr.isatty():
        yield lambda outcome: click.echo(line(outcome), err=True)
        return
    columns = (
        TextColumn("Importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("", total=None)

        def report(outcome: Any) -> None:
            progress.update(task, advance=1, description=outcome.model)
            if outcome.conflicts or outcome.error or outcome.notes or outcome.held:
                progress.console.print(line(outcome), markup=False, highlight=False)

        yield report


def _print_summary(summary: Any, url: str, dry_run: bool, seconds: float) -> None:
    verb = "Dry run (nothing written): would import" if dry_run else "Imported"
    click.echo(
        f"{verb} from {url}: {summary.models} models ({summary.created} new, "
        f"{summary.updated} updated, {summary.unchanged} unchanged), {summary.versions} "
        f"versions, {summary.aliases} aliases, {summary.stages} stage changes, "
        f"{summary.requests} requests filed, {summary.tags} tag changes, "
        f"{summary.descriptions} descriptions; {summary.skipped} skipped, "
        f"{summary.held_moves} source moves held back, {summary.conflicts} conflicts, "
        f"{summary.errors} errors in {seconds:.1f} s."
    )
    if summary.requests:
        click.echo(
            f"{summary.requests} transition request(s) filed by system:import wait for "
            "approvers: GET /api/v1/transition-requests?state=pending"
        )
    if summary.models == 0:
        click.echo("No model matched; nothing changed.")
    elif summary.unchanged == summary.models:
        click.echo("Nothing changed at the source since the last run.")
