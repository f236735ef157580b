"""What a commit writes besides the change itself, installed as Session hooks.

Domain functions stage an idempotency key (:mod:`registry.domain.idempotency`) and events
(:func:`registry.domain.events.record`) on the session; when it commits, the hooks here write
the key, append the events to the audit chain (:mod:`registry.domain.ledger`) and add the
webhook deliveries they call for (the outbox, :mod:`registry.domain.webhooks.outbox`), all in
the committing transaction. A rollback discards what was staged with the change.

This module is the one place that knows all three, so none of them imports another to be
called at commit time.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import events, idempotency, ledger
from registry.domain.webhooks import outbox


def append_events(session: Session) -> None:
    """before_commit hook: move the session's staged events onto the chain, and write the
    webhook deliveries they call for (the outbox) in the same transaction.

    SQLAlchemy fires before_commit for a savepoint's release too. Appending then would put
    the events staged so far, the outer transaction's included, inside that savepoint's
    parent, where rolling back an enclosing savepoint would take them away while the changes
    they record stay: so only the real commit appends.
    """
    if session.in_nested_transaction():
        return
    pending = events.take_pending(session)
    if pending:
        outbox.write_outbox(session, ledger.append(session, pending))


def install() -> None:
    """Hook the idempotency keys, the ledger and the outbox into every Session's commit.
    Safe to call more than once."""
    if not sa.event.contains(Session, "before_commit", idempotency.write_pending):
        sa.event.listen(Session, "before_commit", idempotency.write_pending)
    if not sa.event.contains(Session, "before_commit", append_events):
        sa.event.listen(Session, "before_commit", append_events)
        sa.event.listen(Session, "after_soft_rollback", events.discard_rolled_back)
