"""``modelgate token``: service-account API tokens, made by the operator (the root of trust)."""

from __future__ import annotations

import datetime as dt
import os

import click

from registry.cli.common import operator_session
from registry.domain.policy import parse_duration
from registry.domain.principal import system


@click.group()
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

    with operator_session() as session:
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

    with operator_session() as session:
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

    with operator_session() as session:
        info = identity.approve_token(session, system(), token_id)
        session.commit()
    click.echo(f"Approved token {info.id} ({info.prefix}...) of service:{info.name}.")


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by id."""
    from registry.domain import identity

    with operator_session() as session:
        info = identity.revoke_token(session, system(), token_id)
        session.commit()
    click.echo(f"Revoked token {info.id} ({info.prefix}...) of service:{info.name}.")
