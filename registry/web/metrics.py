"""Prometheus metrics: what ``GET /metrics`` shows, and the hook other modules add figures with.

Two kinds of figure:

- **Counted in the process** as things happen: HTTP requests and their latency by route and
  status, transitions applied, database connections in use. Under gunicorn each worker
  process counts its own, so ``PROMETHEUS_MULTIPROC_DIR`` must name a directory the workers
  share (the chart mounts an emptyDir; :mod:`registry.serve.gunicorn_conf` makes one when it is
  unset): whichever worker answers a scrape then reports the sum over all of them.
- **Read from the database at scrape time**: pending transition requests, and whatever
  another module adds with :func:`register_collector` (the webhook outbox's figures,
  :func:`registry.delivery.outbox.collect_figures`, registered by create_app). These are
  the same whichever process answers, survive restarts, and cost one small query per scrape.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g, request
from flask.typing import ResponseReturnValue
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.orm import Session

from registry.domain.events import EventType
from registry.extensions import db
from registry.orm.audit import AuditEvent
from registry.orm.base import utcnow
from registry.orm.transition import TransitionRequest

log = logging.getLogger("modelgate.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
_EXTENSION = "modelgate.metrics"
_COMMITTED = "modelgate.metrics.applied"

HTTP_REQUESTS = Counter(
    "modelgate_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "modelgate_http_request_duration_seconds",
    "Time from the request reaching the app to its response, by method, route and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TRANSITIONS_APPLIED = Counter(
    "modelgate_transitions_applied_total",
    "Transition requests applied (committed), by the stage left and the stage entered.",
    ["from_stage", "to_stage"],
)
REFUSALS = Counter(
    "modelgate_refusals_total",
    "Refused writes (registry.web.refusals), by audit event and whether each was recorded in the "
    "ledger one by one ('individually') or counted into a per-minute summary ('counted'); a "
    "rising 'counted' is a flood.",
    ["event", "recorded"],
)
# livesum: each process reports its own pool; a scrape adds up the processes still alive.
DB_POOL_IN_USE = Gauge(
    "modelgate_db_pool_connections_in_use",
    "Database connections checked out of the pools of the serving processes.",
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "modelgate_db_pool_connections_max",
    "Connections the serving processes' pools may open (pool size plus overflow).",
    multiprocess_mode="livesum",
)

# What a database collector is: given a session (read-only use), yield metric families.
Collect = Callable[[Session], Iterable[Metric]]


@dataclass
class _State:
    collectors: dict[str, Collect] = field(default_factory=dict)


def register_collector(app: Flask, name: str, collect: Collect) -> None:
    """Add figures read from the database when ``/metrics`` is scraped.

    ``collect(session)`` yields prometheus_client metric families (``GaugeMetricFamily``,
    ``CounterMetricFamily``...), named ``modelgate_...``. It runs in the scraping request,
    inside a transaction that is rolled back afterwards; if it raises, its figures are left
    out of that scrape, ``modelgate_metrics_collector_up{collector=name}`` reads 0 and the
    error is logged. Registering a name again replaces the earlier collector.

    The webhook figures (deliveries by outcome, the outbox backlog and the age of its oldest
    pending delivery) come this way: create_app registers the outbox's collector.
    """
    app.extensions[_EXTENSION].collectors[name] = collect


def collect_pending_requests(session: Session) -> Iterator[Metric]:
    """Transition requests waiting for approval (expired ones excluded), by target stage."""
    now = utcnow()
    rows = session.execute(
        sa.select(TransitionRequest.to_stage, sa.func.count())
        .where(
            TransitionRequest.state == "pending",
            sa.or_(TransitionRequest.expires_at.is_(None), TransitionRequest.expires_at > now),
        )
        .group_by(TransitionRequest.to_stage)
    ).all()
    family = GaugeMetricFamily(
        "modelgate_transition_requests_pending",
        "Transition requests waiting for approvals, by the stage they ask for.",
        labels=["to_stage"],
    )
    for stage, count in rows:
        family.add_metric([stage], count)
    yield family


def exposition(app: Flask) -> bytes:
    """The text a scrape gets: the processes' own metrics plus the database figures."""
    scrape = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(scrape)
        text = generate_latest(scrape)
    else:
        text = generate_latest(REGISTRY)
    return text + generate_latest(_DatabaseFigures(app.extensions[_EXTENSION].collectors))


class _DatabaseFigures:
    """A prometheus_client collector that runs the registered database collectors."""

    def __init__(self, collectors: dict[str, Collect]) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "modelgate_metrics_collector_up",
            "1 when the figures of this database collector could be read in this scrape.",
            labels=["collector"],
        )
        for name, collect in self._collectors.items():
            try:
                families = list(collect(db.session))
            except Exception:  # noqa: BLE001 - one broken figure must not hide the others
                log.warning("metrics collector %s failed", name, exc_info=True)
                up.add_metric([name], 0)
            else:
                up.add_metric([name], 1)
                yield from families
            finally:
                db.session.rollback()
        yield up


# --------------------------------------------------------------------------- HTTP


def _start_timer() -> None:
    g.modelgate_started = time.perf_counter()


def _observe(response: Any) -> Any:
    started = g.pop("modelgate_started", None)
    if started is None:
        return response
    rule = request.url_rule
    labels = (request.method, rule.rule if rule is not None else "unmatched", response.status_code)
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)
    return response


# --------------------------------------------------------------------------- transitions


def _note_applied(session: Session, _flush_context: Any) -> None:
    """after_flush: remember the applied transitions the ledger is writing in this commit.

    The ledger appends its audit rows just before the commit; counting them only once the
    commit succeeds (below) keeps rolled-back attempts out of the count.
    """
    for row in session.new:
        if isinstance(row, AuditEvent) and row.event == EventType.REQUEST_APPLIED:
            data = row.data or {}
            session.info.setdefault(_COMMITTED, []).append(
                (str(data.get("from_stage")), str(data.get("to_stage")))
            )


def _count_applied(session: Session) -> None:
    for from_stage, to_stage in session.info.pop(_COMMITTED, []):
        TRANSITIONS_APPLIED.labels(from_stage, to_stage).inc()


def _forget_applied(session: Session, _previous: Any = None) -> None:
    session.info.pop(_COMMITTED, None)


def _install_session_hooks() -> None:
    if not sa.event.contains(Session, "after_flush", _note_applied):
        sa.event.listen(Session, "after_flush", _note_applied)
        sa.event.listen(Session, "after_commit", _count_applied)
        sa.event.listen(Session, "after_rollback", _forget_applied)


# --------------------------------------------------------------------------- pool


def _watch_pool(engine: sa.Engine, capacity: int | None) -> None:
    pool = engine.pool
    if capacity:
        DB_POOL_CAPACITY.inc(capacity)
    sa.event.listen(pool, "checkout", lambda *_: DB_POOL_IN_USE.inc())
    sa.event.listen(pool, "checkin", lambda *_: DB_POOL_IN_USE.dec())
    # A detached connection never checks in again; it stops counting here.
    sa.event.listen(pool, "detach", lambda *_: DB_POOL_IN_USE.dec())


def init_app(app: Flask) -> None:
    """Count requests, transitions and pool use for this app, and read pending requests at
    scrape time. Call before any other before_request hook, so refused requests are timed."""
    app.extensions[_EXTENSION] = _State()
    register_collector(app, "pending_requests", collect_pending_requests)
    app.before_request(_start_timer)
    app.after_request(_observe)
    _install_session_hooks()
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    with app.app_context():
        capacity = options.get("pool_size", 0) + options.get("max_overflow", 0)
        _watch_pool(db.engine, capacity or None)


def respond() -> ResponseReturnValue:
    """The body and headers of a ``/metrics`` answer for the current app."""
    return exposition(current_app), 200, {"Content-Type": CONTENT_TYPE}
