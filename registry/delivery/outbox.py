"""After a commit, send the webhook deliveries it wrote: to Celery, or to the embedded thread.

The rows are already committed (the domain writes them in the change's own transaction), so
sending is only a nudge: if it fails (Redis down, the process killed right now), the sweep
finds the rows later. A task is sent only after the commit succeeded, never for a
transaction that rolled back, and by name, so the registry never imports the workers.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from registry.config import secret_keys
from registry.delivery.sender import Target
from registry.domain import webhooks
from registry.domain.sealing import SecretBox

if TYPE_CHECKING:  # imported when scraped: importing the outbox must not fix metrics' mode
    from prometheus_client.core import Metric

log = logging.getLogger("modelgate.webhooks")

DELIVER_TASK = "workers.tasks.webhooks.deliver"
EXTENSION = "modelgate.webhooks"


@dataclass
class Webhooks:
    """What sending needs, built once per app from its settings."""

    box: SecretBox
    target: Target
    schedule: tuple[float, ...]
    sweep_seconds: float
    redispatch_seconds: float
    celery: Any = None  # a producer-only Celery app, when Redis is configured
    wake: threading.Event = field(default_factory=threading.Event)  # the embedded thread

    def dispatch(self, ids: Sequence[int]) -> None:
        if self.celery is None:
            self.wake.set()
            return
        for delivery_id in ids:
            try:
                self.celery.send_task(DELIVER_TASK, args=[delivery_id], retry=False)
            except Exception as exc:  # noqa: BLE001 - the sweep will send it; never fail a commit
                log.warning(
                    "could not queue webhook delivery %s (the sweep will): %s", delivery_id, exc
                )


def runtime(app: Flask | None = None) -> Webhooks:
    return (app or current_app).extensions[EXTENSION]


def _producer(config: dict[str, Any]) -> Any:
    from celery import Celery

    producer = Celery("modelgate", broker=config["REDIS_URL"], set_as_current=False)
    producer.conf.update(
        broker_transport_options=transport_options(config),
        broker_connection_timeout=2,
        broker_connection_retry=False,
        broker_connection_max_retries=0,
    )
    return producer


def transport_options(config: dict[str, Any]) -> dict[str, Any]:
    """Celery's Redis transport settings, shared by producers, workers and beat."""
    options: dict[str, Any] = {"visibility_timeout": 3600}
    if config.get("REDIS_KEY_PREFIX"):
        options["global_keyprefix"] = config["REDIS_KEY_PREFIX"]
    return options


def _after_commit(session: Session) -> None:
    ids = webhooks.take_new_deliveries(session)
    if ids and has_app_context() and EXTENSION in current_app.extensions:
        runtime().dispatch(ids)


def _after_rollback(session: Session) -> None:
    webhooks.take_new_deliveries(session)


def init_app(app: Flask) -> None:
    config = app.config
    app.extensions[EXTENSION] = Webhooks(
        box=secret_keys.app_box(app),
        target=Target(
            allow_loopback=config["WEBHOOK_ALLOW_LOOPBACK"],
            allow_private=config["WEBHOOK_ALLOW_PRIVATE"],
            allow_http=config["WEBHOOK_ALLOW_HTTP"],
            timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
        ),
        schedule=tuple(config["WEBHOOK_RETRY_SCHEDULE"]),
        sweep_seconds=config["WEBHOOK_SWEEP_SECONDS"],
        redispatch_seconds=config["WEBHOOK_REDISPATCH_SECONDS"],
        celery=_producer(config) if config["REDIS_URL"] else None,
    )
    if not sa.event.contains(Session, "after_commit", _after_commit):
        sa.event.listen(Session, "after_commit", _after_commit)
        sa.event.listen(Session, "after_rollback", _after_rollback)


def collect_figures(session: Session) -> Iterator[Metric]:
    """The outbox's figures for ``/metrics``, read when it is scraped: deliveries by outcome,
    the backlog and the age of its oldest delivery. create_app registers it with
    :func:`registry.web.metrics.register_collector`."""
    from prometheus_client.core import GaugeMetricFamily

    from registry.orm import WebhookDelivery

    by_state = GaugeMetricFamily(
        "modelgate_webhook_deliveries", "Webhook deliveries by outcome.", labels=["state"]
    )
    for state, count in session.execute(
        sa.select(WebhookDelivery.state, sa.func.count()).group_by(WebhookDelivery.state)
    ).all():
        by_state.add_metric([state], count)
    yield by_state
    backlog, oldest = session.execute(
        sa.select(sa.func.count(), sa.func.min(WebhookDelivery.created_at)).where(
            WebhookDelivery.state == "pending"
        )
    ).one()
    yield GaugeMetricFamily(
        "modelgate_webhook_outbox_backlog",
        "Deliveries waiting to be sent or retried.",
        value=backlog,
    )
    age = 0.0
    if oldest is not None:
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        age = (dt.datetime.now(dt.UTC) - oldest).total_seconds()
    yield GaugeMetricFamily(
        "modelgate_webhook_outbox_oldest_seconds",
        "Age of the oldest delivery waiting.",
        value=age,
    )
