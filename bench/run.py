"""Modelgate against the real MLflow server and a bare-Flask ceiling, in one run.

On one PostgreSQL server and with the same gunicorn worker count, it starts:

- Modelgate (``modelgate serve --workers N``) on a fresh database, under
  ``policies/examples/open.yaml``, called with service tokens (a viewer reads, a
  contributor writes);
- the real MLflow server (bench/mlflow_server.py, its own virtual environment and database);
- ``bench/ceiling_app.py``, fixed JSON from Flask under gunicorn with Modelgate's settings
  (gthread, the same workers and threads): nothing Flask serves can beat it here.

Each registry gets the same data: MODELS models of 5 versions, version 3 in Production and
aliased ``champion``. Modelgate is seeded in SQL (seconds, and the only way to reach 100,000
models), MLflow through its REST API by several clients at once; then ``ANALYZE``. Every
scenario runs at each concurrency with bench/load.py; the table gives requests/s, latency
percentiles, errors, and the ratios Modelgate / MLflow and Modelgate / ceiling. Then
Modelgate's read scenarios run a second time and its workers' RSS is read after each round,
and resolve runs again with 100,000 models.

    .venv/bin/python bench/run.py                  # everything (about 10 minutes)
    .venv/bin/python bench/run.py --no-mlflow      # Modelgate and the ceiling only
    .venv/bin/python bench/run.py --only resolve --concurrency 32 --no-big

Needs PostgreSQL (MODELGATE_BENCH_DATABASE_URL, default
postgresql://postgres@127.0.0.1/postgres); the databases it makes are dropped at the end.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402
from bench.load import Request  # noqa: E402
from bench.mlflow_server import free_port, running  # noqa: E402
from tests.helpers import postgres_database  # noqa: E402

MODELGATE = str(Path(sys.executable).parent / "modelgate")
MLFLOW_API = "/api/2.0/mlflow"
SECRET = "bench-secret-key-0123456789abcdef"  # noqa: S105 - a throwaway database
PRODUCTION_VERSION = 3
VERSIONS = 5


def name_of(i: int) -> str:
    return f"model-{i:05d}"


# --------------------------------------------------------------------------- databases


def seed_modelgate_sql(url: str, first: int, last: int) -> None:
    """Models ``first``..``last - 1`` straight into the tables (no audit events: reads never
    look at them, and the write mix appends to an empty ledger)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as conn:
        before = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM registered_models"))
        before = before.scalar_one()
        conn.execute(
            sa.text(
                """
                INSERT INTO registered_models
                    (name, name_key, description, last_version, created_by, created_at,
                     updated_at)
                SELECT 'model-' || lpad(i::text, 5, '0'), 'model-' || lpad(i::text, 5, '0'),
                       NULL, :versions, 'bench', now(), now()
                FROM generate_series(:first, :last - 1) AS i
                """
            ),
            {"first": first, "last": last, "versions": VERSIONS},
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO model_versions
                    (model_id, version, source, stage, exclusive, status, created_by,
                     created_at, updated_at)
                SELECT m.id, v, 's3://bench/' || m.name || '/' || v,
                       CASE WHEN v = :prod THEN 'Production' ELSE 'None' END, false, 'READY',
                       'bench', now(), now()
                FROM registered_models m CROSS JOIN generate_series(1, :versions) AS v
                WHERE m.id > :before
                """
            ),
            {"before": before, "versions": VERSIONS, "prod": PRODUCTION_VERSION},
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO model_aliases (model_id, alias, version, updated_at)
                SELECT m.id, 'champion', :prod, now() FROM registered_models m
                WHERE m.id > :before
                """
            ),
            {"before": before, "prod": PRODUCTION_VERSION},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def analyze(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def seed_mlflow(base: str, models: int, clients: int = 16) -> None:
    """The same data through MLflow's REST API, one model per task, ``clients`` at once."""

    def call(method: str, path: str, body: dict) -> dict:
        request = urllib.request.Request(  # noqa: S310 - loopback URL built here
            f"{base}{MLFLOW_API}{path}",
            data=json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return json.loads(answer.read() or b"{}")

    def one(i: int) -> None:
        name = name_of(i)
        call("POST", "/registered-models/create", {"name": name})
        for v in range(1, VERSIONS + 1):
            call(
                "POST", "/model-versions/create", {"name": name, "source": f"s3://bench/{name}/{v}"}
            )
        call(
            "POST",
            "/model-versions/transition-stage",
            {
                "name": name,
                "version": str(PRODUCTION_VERSION),
                "stage": "Production",
                "archive_existing_versions": False,
            },
        )
        call(
            "POST",
            "/registered-models/alias",
            {"name": name, "alias": "champion", "version": str(PRODUCTION_VERSION)},
        )

    pool = concurrent.futures.ThreadPoolExecutor(clients)
    try:
        for future in [pool.submit(one, i) for i in range(models)]:
            future.result()
    finally:  # on an error or ^C, do not go on seeding a server about to be stopped
        pool.shutdown(cancel_futures=True)


# --------------------------------------------------------------------------- servers


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def started(
    command: list[str], env: dict[str, str], log: Path, probe: str
) -> Iterator[subprocess.Popen]:
    with (
        log.open("w") as out,
        subprocess.Popen(  # noqa: S603 - our own commands
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        ) as process,
    ):
        try:
            wait_until_up(probe, process, log)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def modelgate_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELGATE_", "MLFLOW_"))}
    env.update(
        MODELGATE_DATABASE_URL=url,
        MODELGATE_SECRET_KEY=SECRET,
        MODELGATE_POLICY_PATH=str(ROOT / "policies" / "examples" / "open.yaml"),
        # The load generator is one caller with one token: measure the server, not its limit.
        MODELGATE_RATE_LIMIT="",
        **extra,
    )
    return env


def make_token(env: dict[str, str], name: str, role: str) -> str:
    out = subprocess.run(  # noqa: S603 - our own CLI
        [MODELGATE, "token", "create", "--name", name, "--role", role],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def worker_rss_mb(master_pid: int) -> list[float]:
    """VmRSS of each child of ``master_pid`` (gunicorn's workers), in MB."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    sizes = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


# --------------------------------------------------------------------------- scenarios


def resolve_native(models: int, token: str) -> load.Scenario:
    headers = {"Authorization": f"Bearer {token}"}

    def scenario(rng: random.Random, n: int) -> Iterator[Request]:
        name = name_of(rng.randrange(models))
        yield Request("GET", f"/api/v1/resolve?uri=models:/{name}/Production", headers=headers)

    return scenario


def latest_mlflow(models: int, token: str | None) -> load.Scenario:
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def scenario(rng: random.Random, n: int) -> Iterator[Request]:
        name = name_of(rng.randrange(models))
        yield Request(
            "GET",
            f"{MLFLOW_API}/registered-models/get-latest-versions?name={name}&stages=Production",
            headers=headers,
        )

    return scenario


def version_native(models: int, token: str) -> load.Scenario:
    headers = {"Authorization": f"Bearer {token}"}

    def scenario(rng: random.Random, n: int) -> Iterator[Request]:
        name, version = name_of(rng.randrange(models)), rng.randint(1, VERSIONS)
        yield Request("GET", f"/api/v1/models/{name}/versions/{version}", headers=headers)

    return scenario


def version_mlflow(models: int, token: str | None) -> load.Scenario:
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def scenario(rng: random.Random, n: int) -> Iterator[Request]:
        name, version = name_of(rng.randrange(models)), rng.randint(1, VERSIONS)
        yield Request(
            "GET", f"{MLFLOW_API}/model-versions/get?name={name}&version={version}", headers=headers
        )

    return scenario


def prefixes(models: int) -> list[str]:
    """Name prefixes that match 100 models each."""
    return [name_of(i)[:-2] for i in range(0, models - 99, 100)]


def search_native(models: int, token: str) -> load.Scenario:
    headers = {"Authorization": f"Bearer {token}"}
    choices = prefixes(models)

    def scenario(rng: random.Random, n: int) -> Iterator[Request]:
        prefix = rng.choice(choices)
        yield Request("GET", f"/api/v1/models?filter={prefix}*&max_results=100", headers=headers)

    return scenario


def search_mlflow(models: int, token: str | None) -> load.Scenario:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    choices = prefixes(models)

    def scenario(rng: random.Random, n: int) -> Iterator[Request]:
        prefix = rng.choice(choices)
        yield Request(
            "GET",
            f"{MLFLOW_API}/registered-models/search?filter=name+LIKE+%27{prefix}%25%27"
            "&max_results=100",
            headers=headers,
        )

    return scenario


def write_mlflow(models: int, token: str | None) -> load.Scenario:
    """Register a version of a random model, then move it to Staging."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def scenario(rng: random.Random, n: int) -> Iterator[Request]:
        name = name_of(rng.randrange(models))
        created = yield Request(
            "POST",
            f"{MLFLOW_API}/model-versions/create",
            body={"name": name, "source": f"s3://bench/{name}/w{n}"},
            headers=headers,
        )
        version = created["model_version"]["version"]
        yield Request(
            "POST",
            f"{MLFLOW_API}/model-versions/transition-stage",
            body={
                "name": name,
                "version": version,
                "stage": "Staging",
                "archive_existing_versions": False,
            },
            headers=headers,
        )

    return scenario


def ceiling(models: int, token: str | None) -> load.Scenario:
    def scenario(rng: random.Random, n: int) -> Iterator[Request]:
        yield Request("GET", f"/resolve?uri=models:/{name_of(rng.randrange(models))}/Production")

    return scenario


# --------------------------------------------------------------------------- the run


@dataclass
class Row:
    group: str
    target: str
    concurrency: int
    result: load.Result


def measure(
    rows: list[Row],
    group: str,
    target: str,
    base: str,
    scenario: load.Scenario,
    args: argparse.Namespace,
) -> None:
    for concurrency in args.concurrency:
        result = load.run(base, scenario, concurrency=concurrency, duration=args.duration)
        rows.append(Row(group, target, concurrency, result))
        print(
            f"  {group:12} {target:24} c={concurrency:<3} {result.rps:8.0f} req/s  "
            f"p50 {result.p50_ms:6.1f}  p99 {result.p99_ms:6.1f} ms  errors {result.errors}",
            file=sys.stderr,
            flush=True,
        )
        if result.first_error:
            print(f"    first error: {result.first_error}", file=sys.stderr)


MODELGATE_SCENARIOS: list[tuple[str, str, Callable[..., load.Scenario], str]] = [
    # (group, target, scenario factory, token kind)
    ("resolve", "modelgate /api/v1", resolve_native, "reader"),
    ("resolve", "modelgate mlflow-layer", latest_mlflow, "reader"),
    ("get-version", "modelgate /api/v1", version_native, "reader"),
    ("get-version", "modelgate mlflow-layer", version_mlflow, "reader"),
    ("search", "modelgate /api/v1", search_native, "reader"),
    ("search", "modelgate mlflow-layer", search_mlflow, "reader"),
    ("write-mix", "modelgate mlflow-layer", write_mlflow, "writer"),
]
MLFLOW_SCENARIOS = [
    ("resolve", latest_mlflow),
    ("get-version", version_mlflow),
    ("search", search_mlflow),
    ("write-mix", write_mlflow),
]


def wanted(group: str, args: argparse.Namespace) -> bool:
    return not args.only or group in args.only


def run_modelgate(rows: list[Row], args: argparse.Namespace, server: str, logs: Path) -> None:
    with postgres_database(server, f"modelgate_bench_{os.getpid()}") as url:
        env = modelgate_env(url)
        subprocess.run([MODELGATE, "db", "upgrade"], env=env, cwd=ROOT, check=True)  # noqa: S603
        seed_modelgate_sql(url, 0, args.models)
        tokens = {
            "reader": make_token(env, "bench-deploy", "viewer"),
            "writer": make_token(env, "bench-ci", "contributor"),
        }
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [MODELGATE, "serve", "--port", str(port), "--workers", str(args.workers)]
        with started(command, env, logs / "modelgate.log", f"{base}/healthz") as process:
            print(f"  modelgate: gunicorn master pid {process.pid}", file=sys.stderr, flush=True)
            rss: list[tuple[str, list[float]]] = [("started", worker_rss_mb(process.pid))]
            for round_ in (1, 2) if args.rss_rounds else (1,):
                target_rows = rows if round_ == 1 else []
                for group, target, factory, token in MODELGATE_SCENARIOS:
                    if wanted(group, args) and (round_ == 1 or group != "write-mix"):
                        scenario = factory(args.models, tokens[token])
                        measure(target_rows, group, target, base, scenario, args)
                rss.append((f"after round {round_}", worker_rss_mb(process.pid)))
            if args.big and wanted("resolve", args):
                seed_modelgate_sql(url, args.models, args.big)
                scenario = resolve_native(args.big, tokens["reader"])
                label = f"modelgate {args.big // 1000}k models"
                measure(rows, "resolve", label, base, scenario, args)
                rss.append(("after 100k", worker_rss_mb(process.pid)))
        args.rss = rss


def run_ceiling(rows: list[Row], args: argparse.Namespace, logs: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "gthread",
        "--workers",
        str(args.workers),
        "--threads",
        "4",
        "--keep-alive",
        "75",
        "--access-logfile",
        "-",
        "--bind",
        f"127.0.0.1:{port}",
        "bench.ceiling_app:app",
    ]
    with started(command, dict(os.environ), logs / "ceiling.log", f"{base}/healthz"):
        measure(rows, "ceiling", "bare flask", base, ceiling(args.models, None), args)


def run_mlflow(rows: list[Row], args: argparse.Namespace, server: str) -> None:
    with (
        postgres_database(server, f"mlflow_bench_{os.getpid()}") as url,
        running(
            url.replace("postgresql://", "postgresql+psycopg2://"), workers=args.workers
        ) as base,
    ):
        began = time.monotonic()
        seed_mlflow(base, args.models)
        analyze(url)
        print(f"  mlflow seeded in {time.monotonic() - began:.0f} s", file=sys.stderr)
        for group, factory in MLFLOW_SCENARIOS:
            if wanted(group, args):
                measure(rows, group, "mlflow", base, factory(args.models, None), args)


def table(rows: list[Row]) -> str:
    def find(group: str, target: str, c: int) -> load.Result | None:
        return next(
            (r.result for r in rows if (r.group, r.target, r.concurrency) == (group, target, c)),
            None,
        )

    lines = [
        "| scenario | server | c | req/s | p50 ms | p95 ms | p99 ms | errors | ÷ MLflow "
        "| ÷ ceiling |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        res = r.result
        mlflow = find(r.group, "mlflow", r.concurrency)
        top = find("ceiling", "bare flask", r.concurrency)
        is_modelgate = r.target.startswith("modelgate")
        vs_mlflow = f"{res.rps / mlflow.rps:.2f}×" if is_modelgate and mlflow and mlflow.rps else ""
        vs_top = f"{res.rps / top.rps:.0%}" if r.group != "ceiling" and top and top.rps else ""
        if vs_top and r.group != "ceiling":
            vs_top += f" (p99 {res.p99_ms / top.p99_ms:.1f}×)"
        lines.append(
            f"| {r.group} | {r.target} | {r.concurrency} | {res.rps:.0f} | {res.p50_ms:.1f} | "
            f"{res.p95_ms:.1f} | {res.p99_ms:.1f} | {res.errors} | {vs_mlflow} | {vs_top} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, every server")
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--big", type=int, default=100_000, help="models for the scale check")
    parser.add_argument("--no-big", dest="big", action="store_const", const=0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--no-mlflow", dest="mlflow", action="store_false")
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false")
    parser.add_argument("--no-rss-rounds", dest="rss_rounds", action="store_false")
    parser.add_argument(
        "--only", nargs="+", choices=["resolve", "get-version", "search", "write-mix"]
    )
    args = parser.parse_args()
    server = os.environ.get(
        "MODELGATE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/postgres"
    )
    logs = Path("/tmp") / f"modelgate-bench-{os.getpid()}"  # noqa: S108
    logs.mkdir()
    print(f"logs in {logs}; load average {os.getloadavg()}", file=sys.stderr)
    rows: list[Row] = []
    if args.ceiling:
        run_ceiling(rows, args, logs)
    run_modelgate(rows, args, server, logs)
    if args.mlflow:
        run_mlflow(rows, args, server)
    order = ["ceiling", "resolve", "get-version", "search", "write-mix"]
    rows.sort(key=lambda r: (order.index(r.group), r.concurrency, r.target))
    print(f"\n{args.workers} gunicorn workers per server, {args.models} models x {VERSIONS}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(table(rows))
    for big in (r for r in rows if r.target.endswith("k models")):
        small = next(
            (
                r.result
                for r in rows
                if (r.group, r.target, r.concurrency)
                == ("resolve", "modelgate /api/v1", big.concurrency)
            ),
            None,
        )
        if small is not None:
            print(
                f"\nresolve, {big.target} / {args.models} models at c={big.concurrency}: "
                f"p50 {big.result.p50_ms / small.p50_ms:.2f}x, "
                f"p99 {big.result.p99_ms / small.p99_ms:.2f}x, "
                f"req/s {big.result.rps / small.rps:.2f}x"
            )
    print("\nModelgate API worker RSS (MB):")
    for when, sizes in args.rss:
        print(f"  {when}: {', '.join(f'{s:.1f}' for s in sizes)}")


if __name__ == "__main__":
    main()
