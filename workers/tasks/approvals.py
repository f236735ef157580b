"""Record the expiry of transition requests whose time is up."""

from __future__ import annotations

from celery import shared_task

from registry.domain import transitions
from registry.extensions import db


@shared_task(name="workers.tasks.approvals.expire", ignore_result=True)
def expire() -> int:
    expired = transitions.expire_due(db.session)
    db.session.commit()
    return len(expired)
