"""The embedded worker: without Redis, a thread in each API process does what Celery and
beat do otherwise, from the same outbox table and with the same claims (so several API
processes share the work without sending a delivery twice):

- sends the deliveries a commit just wrote (woken by the after-commit hook),
- sends retries and anything left behind, every MODELGATE_WEBHOOK_SWEEP_SECONDS,
- records expired transition requests and forgets day-old idempotency keys, every minute,
- publishes a signed audit checkpoint every MODELGATE_AUDIT_CHECKPOINT_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from registry.delivery import outbox
from registry.delivery.sender import deliver_due
from registry.domain import checkpoints, idempotency, transitions
from registry.extensions import db

log = logging.getLogger("modelgate.background")
EXPIRY_EVERY = 60.0
# Several processes each try once a period; whoever finds a checkpoint younger than this
# share of the period leaves it, so one is published per period, give or take clock jitter.
CHECKPOINT_SPACING = 0.9


class EmbeddedWorker(threading.Thread):
    def __init__(self, app: Flask) -> None:
        super().__init__(name="modelgate-embedded-worker", daemon=True)
        self.app = app
        self.stopping = threading.Event()
        self._last_expiry = 0.0
        self._last_checkpoint = time.monotonic()  # the first one a full period after start

    def stop(self) -> None:
        self.stopping.set()
        outbox.runtime(self.app).wake.set()

    def run(self) -> None:
        hooks = outbox.runtime(self.app)
        while not self.stopping.is_set():
            hooks.wake.wait(timeout=hooks.sweep_seconds)
            hooks.wake.clear()
            if self.stopping.is_set():
                return
            with self.app.app_context():
                try:
                    self.tick(hooks)
                except Exception:  # noqa: BLE001 - a bad tick must not kill the thread
                    log.exception("embedded worker tick failed")
                    db.session.rollback()
                finally:
                    db.session.remove()

    def tick(self, hooks: outbox.Webhooks) -> None:
        deliver_due(db.session, hooks.box, hooks.target, hooks.schedule)
        if time.monotonic() - self._last_expiry > EXPIRY_EVERY:
            self._last_expiry = time.monotonic()
            transitions.expire_due(db.session)
            idempotency.purge_expired(db.session)
            db.session.commit()
        every = self.app.config["AUDIT_CHECKPOINT_SECONDS"]
        if every and time.monotonic() - self._last_checkpoint > every:
            self._last_checkpoint = time.monotonic()
            publish_checkpoint(self.app)


def publish_checkpoint(app: Flask) -> checkpoints.Checkpoint | None:
    """Publish a checkpoint unless another process just did (or nothing was recorded)."""
    if app.extensions[checkpoints.EXTENSION].signer is None:
        log.warning("no audit checkpoint published: MODELGATE_AUDIT_SIGNING_KEY is not set")
        return None
    published = checkpoints.publish(
        db.session,
        app.extensions[checkpoints.EXTENSION],
        min_interval=CHECKPOINT_SPACING * app.config["AUDIT_CHECKPOINT_SECONDS"],
    )
    db.session.commit()
    if published is not None:
        log.info("published audit checkpoint at seq %s", published.seq)
    return published


def start(app: Flask) -> EmbeddedWorker | None:
    """Start the thread unless Celery does this work (MODELGATE_REDIS_URL is set)."""
    if app.config.get("REDIS_URL"):
        return None
    worker = EmbeddedWorker(app)
    worker.start()
    app.extensions["modelgate.embedded_worker"] = worker
    return worker
