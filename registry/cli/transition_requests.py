"""``modelgate requests``: transition requests' housekeeping."""

from __future__ import annotations

import click

from registry.cli.common import operator_session


@click.group()
def requests() -> None:
    """Transition requests: housekeeping."""


@requests.command("expire")
def requests_expire() -> None:
    """Record as expired the pending requests whose time is up (the periodic sweep, by hand)."""
    from registry.domain import transitions

    with operator_session() as session:
        expired = transitions.expire_due(session)
        session.commit()
    click.echo(f"{len(expired)} request(s) expired.")
