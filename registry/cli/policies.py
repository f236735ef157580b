"""``modelgate policies``: validate the policy files and show what they govern."""

from __future__ import annotations

import sys

import click

from registry.cli.common import load_settings
from registry.domain import policy_files
from registry.domain.policy import PolicyError


@click.group()
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
        loaded = policy_files.load(path or load_settings()["POLICY_PATH"])
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
