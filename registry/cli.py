"""The ``modelgate`` command line: serve, migrate, and (in later chapters) operate the registry."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import click

from registry import config, database, keyfiles
from registry.domain import policy_files
from registry.domain.errors import DomainError
from registry.domain.policy import PolicyError, parse_duration
from registry.domain.principal import system


def _settings() -> dict[str, Any]:
    try:
        return config.load()
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@contextlib.contextmanager
def _registry() -> Iterator[Any]:
    """An app context and its session, for commands that act on the registry as the operator."""
    from registry import create_app
    from registry.extensions import db

    try:
        app = create_app()
    except (config.ConfigError, PolicyError) as exc:
        raise click.ClickException(str(exc)) from None
    with app.app_context():
        try:
            yield db.session
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(f"{exc.code}: {exc.message}") from None


def _check_policies(settings: dict[str, Any]) -> Any:
    """Refuse to start on an invalid policy file, naming the file and line, before any worker
    process is forked (each would otherwise die on it in turn)."""
    try:
        loaded = policy_files.load(settings["POLICY_PATH"])
    except PolicyError as exc:
        raise click.ClickException(f"invalid policy:\n{exc}") from None
    click.echo(f"Modelgate: {len(loaded.policies)} policies from {', '.join(loaded.files)}")
    return loaded


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelgate")
def main() -> None:
    """Modelgate: a model registry with a governance workflow."""
    if _embedded_or_sqlite():
        # Before anything touches the database: SQLite creates it, and its -wal and -shm,
        # with the process's umask (0644 under the usual 022).
        keyfiles.create_files_private()


def _embedded_or_sqlite() -> bool:
    import sqlalchemy as sa

    try:
        url = config.setting("DATABASE_URL")
        return url is None or config.is_sqlite(url)
    except (config.ConfigError, sa.exc.ArgumentError):  # the command reports a bad URL
        return False


@main.command()
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
    """Serve the API with gunicorn (the container's configuration, registry.gunicorn_conf).

    On the embedded default (no MODELGATE_DATABASE_URL) the SQLite file is migrated first and
    one worker process serves with threads. With a server database, migrations are left to
    `modelgate db upgrade` (a deploy step), and the service refuses to start behind them.
    """
    from registry import server

    settings = _settings()
    _check_policies(settings)
    sqlite = config.is_sqlite(settings["DATABASE_URL"])
    threads = None
    if sqlite:
        _tighten_database(settings["DATABASE_URL"])
        _upgrade(settings["DATABASE_URL"], quiet=True)
        _replace_committed_key(settings)
        _bootstrap(settings)
        workers, threads = 1, 8
        where = settings["DATABASE_URL"].removeprefix("sqlite:///")
        click.echo(f"Modelgate: embedded SQLite database at {where}")
    else:
        _require_current_schema(settings["DATABASE_URL"])
        workers = workers or settings["WEB_WORKERS"] or server.default_workers()
    click.echo(f"Modelgate: serving http://{host}:{port}/ with {workers} worker(s)")
    server.serve(host=host, port=port, workers=workers, threads=threads)


@main.group()
def db() -> None:
    """Database schema: upgrade, current revision, drift check."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations to MODELGATE_DATABASE_URL (or the embedded SQLite file).

    On an empty registry this also creates the first admin API token: the one in
    MODELGATE_BOOTSTRAP_TOKEN, or a generated one, printed once.
    """
    settings = _settings()
    if config.is_sqlite(settings["DATABASE_URL"]):
        _tighten_database(settings["DATABASE_URL"])
    _upgrade(settings["DATABASE_URL"], revision=revision)
    click.echo("Database schema is up to date.")
    if settings["DATABASE_APP_ROLE"]:
        _grant(settings["DATABASE_URL"], settings["DATABASE_APP_ROLE"])
    if revision == "head":
        _replace_committed_key(settings)
        _bootstrap(settings)


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
    settings = _settings()
    role = role or settings["DATABASE_APP_ROLE"]
    if not role:
        raise click.BadParameter("name the role, or set MODELGATE_DATABASE_APP_ROLE.")
    _grant(settings["DATABASE_URL"], role)


def _grant(url: str, role: str) -> None:
    import sqlalchemy as sa

    from registry.db_roles import RoleError, grant_application_role

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
@click.option(
    "--strict",
    is_flag=True,
    help="Fail (exit status 1) when the set leaves something ungoverned, as well as when "
    "it is invalid: for CI on a policies repository.",
)
def policies_check(path: str | None, strict: bool) -> None:
    """Validate policy files (PATH, or MODELGATE_POLICY_PATH, or ./policies), list them, and
    warn of what they leave ungoverned."""
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
    for rule in loaded.alias_rules:
        if rule.free:
            what = "free for any contributor"
        else:
            roles = "/".join(sorted(r.value for r in rule.roles)) if rule.roles else "contributors"
            where = f" onto {rule.require_stage.value} only" if rule.require_stage else ""
            what = f"moved by {roles}{where}"
        click.echo(
            f"{rule.name:<28} alias {rule.alias:<22} models {rule.models:<16} {what}  "
            f"({rule.source})"
        )
    click.echo(
        f"{len(loaded.policies)} policies and {len(loaded.alias_rules)} alias rules OK, "
        f"digest {loaded.digest[:12]}"
    )
    warnings = loaded.alias_warnings()
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if strict and warnings:
        sys.exit(1)


@main.group("audit")
def audit_group() -> None:
    """The audit ledger: verify the hash chain, export events."""


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.File("r"),
    help="A checkpoint saved earlier (the answer of GET /api/v1/audit/checkpoint, or an "
    "audit.checkpoint webhook body): prove the ledger still holds and extends it.",
)
@click.option(
    "--public-key",
    "public_keys",
    type=click.File("r"),
    multiple=True,
    help="Trust only this key to check checkpoint signatures (PEM, or the JWKS of "
    "/api/v1/audit/checkpoint-keys); repeatable. Default: the keys this server is "
    "configured with.",
)
@click.option(
    "--tsa-certificate",
    "tsa_certificates",
    type=click.File("rb"),
    multiple=True,
    help="Check the checkpoint's RFC 3161 time-stamp against this authority certificate "
    "(PEM); repeatable. Default: MODELGATE_AUDIT_TSA_CERTIFICATES.",
)
def audit_verify(
    checkpoint_file: Any, public_keys: tuple[Any, ...], tsa_certificates: tuple[Any, ...]
) -> None:
    """Recompute the hash chain and cross-check it with the registry's tables.

    Exit status 1, naming the first bad seq or each disagreement, if the chain is broken,
    an applied request's approvals or a version's stage are not accounted for by the
    ledger, or the ledger no longer holds the --checkpoint given.
    """
    import json

    from registry.domain import audit, checkpoints

    checkpoint = None
    if checkpoint_file is not None:
        try:
            checkpoint = checkpoints.parse(json.load(checkpoint_file))
        except (ValueError, DomainError) as exc:
            message = exc.message if isinstance(exc, DomainError) else str(exc)
            raise click.ClickException(
                f"{checkpoint_file.name} is not a saved checkpoint: {message}"
            ) from None
    keys: dict[str, Any] | None = None
    if public_keys:
        try:
            keys = {
                checkpoints.key_id(k): k
                for f in public_keys
                for k in checkpoints.load_public_keys(f.read())
            }
        except ValueError as exc:
            raise click.ClickException(f"--public-key: {exc}") from None
    roots: list[Any] | None = None
    if tsa_certificates:
        from registry.timestamping import load_certificates

        try:
            roots = [c for f in tsa_certificates for c in load_certificates(f.read())]
        except ValueError as exc:
            raise click.ClickException(f"--tsa-certificate: {exc}") from None
    with _registry() as session:
        from flask import current_app

        configured = current_app.extensions[checkpoints.EXTENSION]
        if keys is None:
            keys = dict(configured.public)
        if roots is None:
            roots = list(configured.tsa_roots)
        if checkpoint is not None and not keys:
            raise click.ClickException(
                "No public key to check the checkpoint's signature with: pass --public-key "
                "(the key from /api/v1/audit/checkpoint-keys, kept apart from the database)."
            )
        result = audit.verify(session, system(), checkpoint=checkpoint, keys=keys, tsa_roots=roots)
    _report_verification(result)


def _report_verification(result: Any) -> None:
    if result.first_bad_seq is not None:
        click.echo(
            f"BROKEN at seq {result.first_bad_seq}: {result.problem} "
            f"({result.events_checked} events verified before it).",
            err=True,
        )
        sys.exit(1)
    click.echo(
        f"Chain intact: {result.events_checked} events; head seq {result.head_seq}, "
        f"hash {result.head_hash}."
    )
    if result.checkpoints_checked:
        click.echo(f"{result.checkpoints_checked} checkpoint(s) recorded in the ledger checked.")
    for problem in result.problems:
        click.echo(f"MISMATCH ({problem['kind']}): {problem['message']}", err=True)
    if result.checkpoint is not None:
        cp = result.checkpoint
        if cp.ok:
            click.echo(
                f"Checkpoint seq {cp.seq} (key {cp.key_id}) verified: the ledger still holds "
                f"it and extends it to seq {result.head_seq}."
            )
            if cp.timestamp == "verified":
                click.echo(f"Its RFC 3161 time-stamp verifies: it existed at {cp.timestamped_at}.")
            elif cp.timestamp == "not checked":
                click.echo(
                    "Its RFC 3161 time-stamp was not checked: pass --tsa-certificate.", err=True
                )
        else:
            click.echo(f"CHECKPOINT FAILED at seq {cp.seq}: {cp.problem}.", err=True)
    if not result.ok:
        sys.exit(1)
    click.echo("OK: the chain is intact and accounts for the registry.")


@audit_group.command("checkpoint")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default="-",
    show_default=True,
    help="File to write.",
)
def audit_checkpoint(output: str) -> None:
    """Sign a checkpoint of the chain's head now (as GET /api/v1/audit/checkpoint does)."""
    import json

    from flask import current_app

    from registry.domain import checkpoints

    with _registry() as session:
        checkpoint = checkpoints.issue(
            session, system(), current_app.extensions[checkpoints.EXTENSION]
        )
    with _writable(output) as out:
        out.write(json.dumps(checkpoint.as_dict(), indent=2) + "\n")


@audit_group.command("keygen")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    required=True,
    help="Where to write the new private key (created with mode 0600; never overwritten).",
)
def audit_keygen(output: str) -> None:
    """Make an Ed25519 key to sign audit checkpoints (MODELGATE_AUDIT_SIGNING_KEY[_FILE]).

    Prints its key id and public key; the private key goes only to the file.
    """
    from pathlib import Path

    from registry import keyfiles
    from registry.domain import checkpoints

    path = Path(output)
    if path.exists():
        raise click.ClickException(f"{path} exists; keygen never replaces a key.")
    pem = keyfiles.create_private(path, checkpoints.new_private_pem().encode())
    public = checkpoints.load_private(pem).public_key()
    click.echo(f"Wrote a new audit signing key to {path} (mode 0600).", err=True)
    click.echo(f"key_id: {checkpoints.key_id(public)}", err=True)
    click.echo(checkpoints.public_pem(public), nl=False)


@audit_group.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["ndjson", "csv"]), default="ndjson", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    required=True,
    help="File to write ('-' for standard output).",
)
@click.option("--model")
@click.option("--version", "version_", type=int)
@click.option("--actor")
@click.option("--event", help="An event name, or a family: transition_request.*")
@click.option("--since", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]))
@click.option("--until", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]))
def audit_export(
    fmt: str,
    output: str,
    model: str | None,
    version_: int | None,
    actor: str | None,
    event: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> None:
    """Export audit events to a file, in constant memory (a progress bar on a terminal)."""
    from rich.progress import Progress

    from registry.domain import audit
    from registry.domain.audit.export import CSV_COLUMNS, csv_chunks

    def aware(value: dt.datetime | None) -> dt.datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)

    with _registry() as session:
        filters = audit.make_filters(
            model=model,
            version=version_,
            actor=actor,
            event=event,
            since=aware(since),
            until=aware(until),
        )
        total = audit.count(session, filters)
        events = audit.iterate(session, system(), filters)
        with (
            _writable(output) as out,
            Progress(disable=not sys.stderr.isatty() or output == "-", transient=True) as progress,
        ):
            task = progress.add_task("Exporting", total=total)
            written = 0

            def counted() -> Any:
                nonlocal written
                for item in events:
                    written += 1
                    if written % 1000 == 0:
                        progress.update(task, completed=written)
                    yield item

            if fmt == "csv":
                for chunk in csv_chunks(counted()):
                    out.write(chunk)
            else:
                for item in counted():
                    out.write(audit.canonical_line(item) + "\n")
    if output != "-":
        click.echo(
            f"Exported {written} events to {output} ({fmt}, columns: "
            f"{', '.join(CSV_COLUMNS) if fmt == 'csv' else 'one JSON object per line'}).",
            err=True,
        )


@contextlib.contextmanager
def _writable(path: str) -> Iterator[Any]:
    """The output file (or standard output for '-'), as the csv module wants it."""
    if path == "-":
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="") as out:
        yield out


def _celery(settings: dict[str, Any]) -> Any:
    if not settings["REDIS_URL"]:
        raise click.ClickException(
            "MODELGATE_REDIS_URL is not set. Without Redis, `modelgate serve` delivers webhooks "
            "itself and needs no worker."
        )
    from registry import create_app
    from workers.celery_app import make_celery

    try:
        return make_celery(create_app())
    except (config.ConfigError, PolicyError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Deliveries sent at once (default: one per CPU).",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads"]),
    default="prefork",
    show_default=True,
    help="Processes (use every CPU) or threads in one process (lighter; deliveries mostly "
    "wait on the network).",
)
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int | None, pool: str, loglevel: str) -> None:
    """Run a Celery worker: delivers webhooks (needs MODELGATE_REDIS_URL).

    Run as many as the delivery load needs; a delivery is claimed before it is sent, so two
    workers never send one at the same time.
    """
    celery = _celery(_settings())
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--pool={pool}",
        "--without-gossip",
        "--without-mingle",
    ]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    celery.worker_main(argv)


@main.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run Celery beat, the schedule of sweeps: exactly one per installation.

    Every MODELGATE_WEBHOOK_SWEEP_SECONDS it sends the deliveries that are due (retries, and
    any whose hand-off to Redis was lost), and each minute it expires stale transition
    requests.
    """
    celery = _celery(_settings())
    celery.start(["beat", f"--loglevel={loglevel}"])


@main.group()
def webhooks() -> None:
    """Webhook deliveries: housekeeping."""


@webhooks.command("sweep")
def webhooks_sweep() -> None:
    """Send every delivery that is due, from this process, and wait for the outcome."""
    from collections import Counter

    from registry import outbox
    from registry.delivery import deliver_due

    with _registry() as session:
        hooks = outbox.runtime()
        outcomes = deliver_due(session, hooks.box, hooks.target, hooks.schedule)
    states = Counter(outcome.state if outcome else "skipped" for outcome in outcomes)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "nothing due"
    click.echo(f"{len(outcomes)} delivery(ies) due: {summary}.")


@main.group("import")
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
    with _registry() as session, _import_progress(dry_run) as report:
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


@main.group("keys")
def keys_group() -> None:
    """Keys: seal the secrets kept at rest again after a key rotation."""


@keys_group.command("reseal")
def keys_reseal() -> None:
    """Seal every webhook secret and stored answer again under the current key.

    Run it after changing MODELGATE_SECRET_KEY (the old one in MODELGATE_PREVIOUS_SECRET_KEYS)
    or MODELGATE_WEBHOOK_ENCRYPTION_KEY (new,old); then the old key can go. On the embedded
    default it also finishes replacing a key file that held the once-committed key.
    """
    from registry import outbox
    from registry.domain import keys as sealed

    settings = _settings()
    if settings["KEY_FILE_REPLACEMENT"]:
        _replace_committed_key(settings)
        return
    with _registry() as session:
        result = sealed.reseal(session, outbox.runtime().box, system())
        session.commit()
    click.echo(
        f"Sealed again under the current key: {result.webhook_secrets} webhook secret(s), "
        f"{result.idempotent_answers} stored answer(s). The previous keys may now be removed."
    )


@main.group()
def requests() -> None:
    """Transition requests: housekeeping."""


@requests.command("expire")
def requests_expire() -> None:
    """Record as expired the pending requests whose time is up (the periodic sweep, by hand)."""
    from registry.domain import transitions

    with _registry() as session:
        expired = transitions.expire_due(session)
        session.commit()
    click.echo(f"{len(expired)} request(s) expired.")


def _tighten_database(url: str) -> None:
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


def _replace_committed_key(settings: dict[str, Any]) -> None:
    """Finish replacing an embedded key file that held the key once committed to the
    repository (config.load has already chosen the new key, kept in ``.secret.next``).

    Every secret sealed at rest is sealed again under the new key in one transaction, with
    a key.replaced audit event; only after the commit does the new key take the old one's
    place. A crash before the commit leaves everything as it was (the same new key is used
    next time); a crash after it leaves the new key in ``.secret.next``, where the next start
    finds it: no secret is ever left sealed under a key that is gone."""
    replacement = settings.get("KEY_FILE_REPLACEMENT")
    if not replacement:
        return
    from pathlib import Path

    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from registry import secret_keys
    from registry.domain import events, on_commit
    from registry.domain import keys as sealed

    key_file, pending = (Path(p) for p in replacement)
    on_commit.install()
    engine = sa.create_engine(settings["DATABASE_URL"], poolclass=sa.pool.NullPool)
    try:
        with Session(engine) as session:
            result = sealed.reseal(
                session,
                secret_keys.box(settings),
                system(),
                events.EventType.KEY_REPLACED,
                data={
                    "key_file": key_file.name,
                    "reason": f"the key committed to the repository in "
                    f"{secret_keys.COMMITTED_IN} is public",
                    "replaced_key_sha256": secret_keys.COMMITTED_KEY_SHA256,
                },
            )
            session.commit()
    finally:
        engine.dispose()
    try:
        os.replace(pending, key_file)
    except FileNotFoundError:  # another process starting at the same time got there first
        return
    click.echo(
        f"Modelgate: {key_file} held the key that was committed to Modelgate's repository "
        f"({secret_keys.COMMITTED_IN}), which anyone can read. It is replaced by a new key; "
        f"{result.webhook_secrets} webhook secret(s) and {result.idempotent_answers} stored "
        "answer(s) are sealed under the new key. Console sessions and page tokens made with "
        "the old key no longer work: sign in again. (Audit event key.replaced.)"
    )


def _bootstrap(settings: dict[str, Any]) -> None:
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


# --------------------------------------------------------------------------- tokens


@main.group()
def token() -> None:
    """Service-account API tokens (acting as the operator: this machine reaches the database)."""


def _expiry(expires_in: str | None) -> dt.datetime | None:
    if expires_in is None:
        return None
    try:
        return dt.datetime.now(dt.UTC) + parse_duration(expires_in)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires-in") from None


@token.command("create")
@click.option("--name", required=True, help="The service account, e.g. deploy-pipeline.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["viewer", "contributor", "approver", "auditor", "admin"]),
    help="Repeat for several roles.",
)
@click.option("--model-pattern", default="*", show_default=True, help="Models it covers (glob).")
@click.option(
    "--stage", "stages", multiple=True, help="Narrow an approver token to stages (repeatable)."
)
@click.option("--expires-in", help="Lifetime such as 90d or 12h (default: no expiry).")
@click.option(
    "--owner",
    help="The person who answers for it: user:<subject> as your identity provider names them "
    "(default: system:$USER, you). Four-eyes rules count each owner once, so give people's "
    "tokens their own owners.",
)
def token_create(
    name: str,
    roles: tuple[str, ...],
    model_pattern: str,
    stages: tuple[str, ...],
    expires_in: str | None,
    owner: str | None,
) -> None:
    """Create a token and print its secret (on stdout, alone, for scripts).

    The operator is the root of trust: tokens made here are active at once, whatever the
    policy's `tokens` rule says for tokens minted over the API."""
    from registry.domain import identity

    with _registry() as session:
        info = identity.create_token(
            session,
            system(),
            name=name,
            roles=list(roles),
            model_pattern=model_pattern,
            stages=list(stages) or None,
            expires_at=_expiry(expires_in),
            owner=owner or f"system:{os.environ.get('USER', 'operator')}",
        )
        session.commit()
    click.echo(
        f"token {info.id} for service:{info.name}, owned by {info.owner} "
        f"({', '.join(info.roles)} on {info.model_pattern!r}); the secret is shown this once:",
        err=True,
    )
    click.echo(info.token)


@token.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
def token_list(include_revoked: bool) -> None:
    """List tokens (never their secrets)."""
    from registry.domain import identity

    with _registry() as session:
        for info in identity.list_tokens(session, system(), include_revoked=include_revoked):
            expires = info.expires_at.isoformat() if info.expires_at else "never"
            click.echo(
                f"{info.id:>5}  {info.prefix}...  {info.name:<24} {info.owner:<24} "
                f"{','.join(info.roles):<24} {info.model_pattern:<16} {info.state:<8} "
                f"expires {expires}"
            )


@token.command("approve")
@click.argument("token_id", type=int)
def token_approve(token_id: int) -> None:
    """Approve a token minted over the API that awaits a second admin."""
    from registry.domain import identity

    with _registry() as session:
        info = identity.approve_token(session, system(), token_id)
        session.commit()
    click.echo(f"Approved token {info.id} ({info.prefix}...) of service:{info.name}.")


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by id."""
    from registry.domain import identity

    with _registry() as session:
        info = identity.revoke_token(session, system(), token_id)
        session.commit()
    click.echo(f"Revoked token {info.id} ({info.prefix}...) of service:{info.name}.")


@main.group("role-binding")
def role_binding() -> None:
    """Role bindings: grant roles to users, groups and service accounts."""


@role_binding.command("create")
@click.option("--subject", required=True, help="user:<sub>, group:<name> or service:<name>.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["viewer", "contributor", "approver", "auditor", "admin"]),
)
@click.option("--model-pattern", default="*", show_default=True)
@click.option("--stage", "stages", multiple=True, help="Narrow an approver binding.")
def role_binding_create(
    subject: str, role: str, model_pattern: str, stages: tuple[str, ...]
) -> None:
    """Grant a role."""
    from registry.domain import identity

    with _registry() as session:
        info = identity.create_binding(
            session,
            system(),
            subject=subject,
            role=role,
            model_pattern=model_pattern,
            stages=list(stages) or None,
        )
        session.commit()
    click.echo(
        f"Binding {info.id}: {info.subject} is {info.role} on {info.model_pattern!r}"
        + (f" for {', '.join(info.stages)}" if info.stages else "")
        + "."
    )


@role_binding.command("list")
@click.option("--subject")
def role_binding_list(subject: str | None) -> None:
    """List role bindings."""
    from registry.domain import identity

    with _registry() as session:
        for info in identity.list_bindings(session, system(), subject=subject):
            stages = ",".join(info.stages) if info.stages else "all stages"
            click.echo(
                f"{info.id:>5}  {info.subject:<32} {info.role:<12} "
                f"{info.model_pattern:<16} {stages:<24} {info.state}"
            )


@role_binding.command("approve")
@click.argument("binding_id", type=int)
def role_binding_approve(binding_id: int) -> None:
    """Approve a role binding made over the API that awaits a second admin."""
    from registry.domain import identity

    with _registry() as session:
        info = identity.approve_binding(session, system(), binding_id)
        session.commit()
    click.echo(f"Approved binding {info.id}: {info.subject} is {info.role}.")


@role_binding.command("delete")
@click.argument("binding_id", type=int)
def role_binding_delete(binding_id: int) -> None:
    """Remove a role binding by id."""
    from registry.domain import identity

    with _registry() as session:
        identity.delete_binding(session, system(), binding_id)
        session.commit()
    click.echo(f"Removed binding {binding_id}.")


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
