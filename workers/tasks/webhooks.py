"""Deliver one webhook; send every delivery that is due (the sweep)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from registry.delivery import outbox
from registry.delivery.sender import deliver as send_one
from registry.domain import webhooks
from registry.extensions import db
from registry.orm.base import utcnow

# Retries due sooner than this are scheduled as Celery countdowns; later ones wait for the
# sweep (a long countdown would sit in Redis past its visibility timeout).
COUNTDOWN_LIMIT = 900.0


@shared_task(name="workers.tasks.webhooks.deliver", bind=True, acks_late=True, ignore_result=True)
def deliver(self, delivery_id: int) -> None:  # type: ignore[no-untyped-def]
    """POST one signed delivery; safe to run twice (a claim decides who sends)."""
    hooks = outbox.runtime()
    outcome = send_one(db.session, delivery_id, hooks.box, hooks.target, hooks.schedule)
    if outcome is None or outcome.state != "pending" or outcome.retry_in is None:
        return
    if outcome.retry_in <= COUNTDOWN_LIMIT:
        webhooks.mark_enqueued(
            db.session, delivery_id, utcnow() + dt.timedelta(seconds=outcome.retry_in)
        )
        db.session.commit()
        self.apply_async((delivery_id,), countdown=outcome.retry_in)


@shared_task(name="workers.tasks.webhooks.sweep", ignore_result=True)
def sweep() -> int:
    """Send what is due and held by no one: never sent (Redis was down at commit, or the
    process died before sending), retries that are due, claims whose worker died."""
    hooks = outbox.runtime()
    ids = webhooks.due(db.session, redispatch_after=hooks.redispatch_seconds)
    db.session.commit()
    for delivery_id in ids:
        deliver.delay(delivery_id)
    return len(ids)
