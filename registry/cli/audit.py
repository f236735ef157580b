"""``modelgate audit``: verify the ledger (against a checkpoint too), sign a checkpoint, make a
signing key, export events.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from typing import Any

import click

from registry.cli.common import operator_session
from registry.config import keyfiles
from registry.domain.errors import DomainError
from registry.domain.principal import system


@click.group("audit")
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
        from registry.clients.timestamping import load_certificates

        try:
            roots = [c for f in tsa_certificates for c in load_certificates(f.read())]
        except ValueError as exc:
            raise click.ClickException(f"--tsa-certificate: {exc}") from None
    with operator_session() as session:
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

    with operator_session() as session:
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

    with operator_session() as session:
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
