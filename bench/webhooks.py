"""How fast webhooks go out: deliveries per second and commit-to-receipt latency.

Runs the real pieces on this machine: a PostgreSQL database of its own, Redis, `modelgate
worker` processes, and a receiver on loopback that answers 204 and notes when each delivery
arrived. Two measurements:

1. latency: changes committed one at a time at a steady rate while a worker is idle and
   waiting; for each, the time from the commit returning to the receiver getting it;
2. throughput: a backlog of N deliveries written while no worker runs, then one worker
   started and timed until the receiver has them all.

    .venv/bin/python bench/webhooks.py                    # 200 timed changes, 2,000 backlog
    .venv/bin/python bench/webhooks.py --backlog 5000 --concurrency 8

Needs PostgreSQL (MODELGATE_BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1/postgres;
a database modelgate_bench_webhooks is created there and dropped) and Redis
(MODELGATE_BENCH_REDIS_URL, default redis://127.0.0.1:6379/0; keys under a prefix of their own).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic import command

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from registry import create_app  # noqa: E402
from registry.database import alembic_config  # noqa: E402
from registry.domain import registered_models, webhooks  # noqa: E402
from registry.domain.principal import system  # noqa: E402
from registry.extensions import db  # noqa: E402
from registry.orm import WebhookDelivery  # noqa: E402

MODELGATE = str(Path(sys.executable).parent / "modelgate")
SECRET = "bench-secret-key-bench-secret-key"  # noqa: S105 - a throwaway database


class Receiver:
    """Answers 204 at once and notes the arrival time of each model's delivery."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                now = time.perf_counter()
                model = json.loads(body)["data"]["model"]
                with receiver.lock:
                    receiver.arrived.setdefault(model, now)
                    receiver.count += 1
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.count} of {count} deliveries arrived")
            time.sleep(0.01)


def database(server_url: str, name: str) -> tuple[sa.Engine, str]:
    admin = sa.create_engine(
        sa.engine.make_url(server_url).set(drivername="postgresql+psycopg2"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(server_url).set(drivername="postgresql", database=name)
    return admin, url.render_as_string(hide_password=False)


def start_worker(env: dict[str, str], concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        worker = subprocess.Popen(  # noqa: S603 - our own CLI
            [MODELGATE, "worker", f"--concurrency={concurrency}", "--loglevel=WARNING"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    time.sleep(0.5)
    return worker


def stop(process: subprocess.Popen[bytes]) -> None:
    """Celery's warm shutdown: the pool finishes (and records) what it is sending."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timed", type=int, default=200, help="changes timed one by one")
    parser.add_argument("--rate", type=float, default=20.0, help="timed changes per second")
    parser.add_argument("--backlog", type=int, default=2000, help="deliveries for throughput")
    parser.add_argument("--concurrency", type=int, default=4, help="the worker's processes")
    args = parser.parse_args()

    server = os.environ.get(
        "MODELGATE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/postgres"
    )
    redis_url = os.environ.get("MODELGATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    admin, url = database(server, "modelgate_bench_webhooks")
    command.upgrade(alembic_config(url.replace("postgresql://", "postgresql+psycopg2://")), "head")
    prefix = f"mgbench-{uuid.uuid4().hex[:8]}:"
    settings = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "WEBHOOK_ALLOW_LOOPBACK": True,
        "POLICY_PATH": str(ROOT / "policies" / "examples" / "open.yaml"),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env.update(
        {f"MODELGATE_{k}": str(v).lower() if v is True else str(v) for k, v in settings.items()}
    )
    app = create_app(settings)
    receiver = Receiver()
    log = Path("/tmp") / f"modelgate-bench-worker-{os.getpid()}.log"  # noqa: S108
    try:
        with app.app_context():
            webhooks.create_webhook(
                db.session,
                system(),
                app.extensions["modelgate.webhooks"].box,
                url=receiver.url,
                events=["model.created"],
            )
            db.session.commit()

            worker = start_worker(env, args.concurrency, log)
            for i in range(20):  # warm the worker's processes and connections
                registered_models.create_model(db.session, system(), name=f"warm-{i}")
                db.session.commit()
            receiver.wait(20, 60)
            committed: dict[str, float] = {}
            gap = 1.0 / args.rate
            for i in range(args.timed):
                began = time.perf_counter()
                name = f"timed-{i}"
                registered_models.create_model(db.session, system(), name=name)
                db.session.commit()
                committed[name] = time.perf_counter()
                time.sleep(max(0.0, gap - (time.perf_counter() - began)))
            receiver.wait(20 + args.timed, 120)
            stop(worker)
            latencies = [(receiver.arrived[n] - t) * 1000 for n, t in committed.items()]

            # The backlog: written with no worker running (the tasks wait in Redis).
            for i in range(args.backlog):
                registered_models.create_model(db.session, system(), name=f"backlog-{i}")
                db.session.commit()
            done_before = receiver.count
            started = time.perf_counter()
            worker = start_worker(env, args.concurrency, log)
            receiver.wait(done_before + args.backlog, 600)
            elapsed = time.perf_counter() - started
            stop(worker)
            states = dict(
                db.session.execute(
                    sa.select(WebhookDelivery.state, sa.func.count()).group_by(
                        WebhookDelivery.state
                    )
                ).all()
            )
    finally:
        with app.app_context():
            db.engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS "modelgate_bench_webhooks" WITH (FORCE)')

    print(f"worker: 1 x `modelgate worker --concurrency={args.concurrency}`, PostgreSQL, Redis")
    print(
        f"commit to receipt ({args.timed} changes at {args.rate:g}/s): "
        f"p50 {statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )
    print(
        f"throughput: {args.backlog} deliveries in {elapsed:.2f} s = "
        f"{args.backlog / elapsed:.0f} deliveries/s (includes the worker's start-up)"
    )
    print(f"deliveries by state: {states}; receiver got {receiver.count} requests")


if __name__ == "__main__":
    main()
