"""The Celery application, bound to a Flask app so every task runs in its app context.

``celery -A workers.celery_app worker`` (or ``modelgate worker``) runs the workers, and
``celery -A workers.celery_app beat`` (or ``modelgate beat``, one replica only) the schedule.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask

from registry.delivery.outbox import transport_options
from workers.schedule import beat_schedule


def make_celery(flask_app: Flask) -> Celery:
    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            from registry.extensions import db

            with flask_app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    config = flask_app.config
    celery = Celery(
        "modelgate",
        broker=config["REDIS_URL"],
        task_cls=FlaskTask,
        include=[
            "workers.tasks.webhooks",
            "workers.tasks.approvals",
            "workers.tasks.housekeeping",
            "workers.tasks.audit",
        ],
    )
    celery.conf.update(
        # A task is acknowledged when it finishes, so a worker killed mid-task leaves it for
        # another worker; the delivery's own lease makes a second run send at most once more
        # (with the same webhook-id).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(config),
        beat_schedule=beat_schedule(config),
        worker_hijack_root_logger=False,
    )

    @worker_process_init.connect(weak=False)
    def _fresh_connections(**_: Any) -> None:
        # A forked pool process must not share the parent's database connections.
        from registry.extensions import db

        with flask_app.app_context():
            db.engine.dispose(close=False)

    celery.set_default()
    flask_app.extensions["celery"] = celery
    return celery


def _module_app() -> Celery:
    from registry import create_app

    return make_celery(create_app())


def __getattr__(name: str) -> Any:
    # ``celery -A workers.celery_app`` looks for ``app``; build it only then, not on import.
    if name in ("app", "celery"):
        value = _module_app()
        globals()["app"] = value
        return value
    raise AttributeError(name)
