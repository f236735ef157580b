"""Forget what is no longer needed: idempotency keys older than a day."""

from __future__ import annotations

from celery import shared_task

from registry.domain import idempotency
from registry.extensions import db


@shared_task(name="workers.tasks.housekeeping.purge", ignore_result=True)
def purge() -> int:
    purged = idempotency.purge_expired(db.session)
    db.session.commit()
    return purged
