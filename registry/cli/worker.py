"""``modelgate worker`` and ``modelgate beat``: the Celery processes, when there is Redis."""

from __future__ import annotations

from typing import Any

import click

from registry import config
from registry.cli.common import load_settings
from registry.domain.policy import PolicyError


def _celery(settings: dict[str, Any]) -> Any:
    if not settings["REDIS_URL"]:
        raise click.ClickException(
            "MODELGATE_REDIS_URL is not set. Without Redis, `modelgate serve` delivers webhooks "
            "itself and needs no worker."
        )
    from registry import create_app
    from workers.celery_app import make_celery

    try:
        return make_celery(create_app())
    except (config.ConfigError, PolicyError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Deliveries sent at once (default: one per CPU).",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads"]),
    default="prefork",
    show_default=True,
    help="Processes (use every CPU) or threads in one process (lighter; deliveries mostly "
    "wait on the network).",
)
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int | None, pool: str, loglevel: str) -> None:
    """Run a Celery worker: delivers webhooks (needs MODELGATE_REDIS_URL).

    Run as many as the delivery load needs; a delivery is claimed before it is sent, so two
    workers never send one at the same time.
    """
    celery = _celery(load_settings())
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--pool={pool}",
        "--without-gossip",
        "--without-mingle",
    ]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    celery.worker_main(argv)


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run Celery beat, the schedule of sweeps: exactly one per installation.

    Every MODELGATE_WEBHOOK_SWEEP_SECONDS it sends the deliveries that are due (retries, and
    any whose hand-off to Redis was lost), and each minute it expires stale transition
    requests.
    """
    celery = _celery(load_settings())
    celery.start(["beat", f"--loglevel={loglevel}"])
