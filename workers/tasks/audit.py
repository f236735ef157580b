"""Publish a signed checkpoint of the audit chain, for webhook subscribers to keep."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from registry.delivery.embedded import publish_checkpoint


@shared_task(name="workers.tasks.audit.checkpoint", ignore_result=True)
def checkpoint() -> int | None:
    published = publish_checkpoint(current_app)
    return published.seq if published is not None else None
