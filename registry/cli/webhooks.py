"""``modelgate webhooks``: send what is due from this process, by hand."""

from __future__ import annotations

import click

from registry.cli.common import operator_session


@click.group()
def webhooks() -> None:
    """Webhook deliveries: housekeeping."""


@webhooks.command("sweep")
def webhooks_sweep() -> None:
    """Send every delivery that is due, from this process, and wait for the outcome."""
    from collections import Counter

    from registry.delivery import outbox
    from registry.delivery.sender import deliver_due

    with operator_session() as session:
        hooks = outbox.runtime()
        outcomes = deliver_due(session, hooks.box, hooks.target, hooks.schedule)
    states = Counter(outcome.state if outcome else "skipped" for outcome in outcomes)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "nothing due"
    click.echo(f"{len(outcomes)} delivery(ies) due: {summary}.")
