"""How long `modelgate import mlflow` takes to bring over a real MLflow registry.

Starts a real MLflow server (bench/mlflow_server.py: the full mlflow package, in
bench/.venv-mlflow, installed on first use) on a PostgreSQL database of its own, seeds it
through its REST API with N models of V versions each (concurrent requests; each model has a
team tag, version tags, one version in Staging, the newest in Production and a `champion`
alias on it), runs ANALYZE, then times `modelgate import mlflow` into a fresh, migrated
PostgreSQL database, and a second run (which must change nothing). Prints the figures.

    .venv/bin/python bench/import_mlflow.py                     # 1,000 models x 5 versions
    .venv/bin/python bench/import_mlflow.py --models 100 --keep

Needs PostgreSQL (MODELGATE_BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1/postgres;
databases modelgate_bench_mlflow and modelgate_bench_import are created there and dropped
unless --keep).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import mlflow_server  # noqa: E402

MODELGATE = str(Path(sys.executable).parent / "modelgate")
SERVER = os.environ.get("MODELGATE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/postgres")
SOURCE_DB, TARGET_DB = "modelgate_bench_mlflow", "modelgate_bench_import"


def database_url(name: str, driver: str = "postgresql+psycopg2") -> str:
    return sa.make_url(SERVER).set(drivername=driver, database=name).render_as_string(False)


def recreate(admin: sa.Engine, *names: str) -> None:
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')


def seed(url: str, models: int, versions: int, concurrency: int) -> None:
    api = f"{url}/api/2.0/mlflow"
    local = threading.local()

    def call(method: str, endpoint: str, **body: object) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        answer = session.request(method, f"{api}/{endpoint}", json=body, timeout=60)
        answer.raise_for_status()

    def one(i: int) -> None:
        name = f"bench-model-{i:05d}"
        call("POST", "registered-models/create", name=name, tags=[{"key": "team", "value": "a"}])
        for v in range(1, versions + 1):
            call(
                "POST",
                "model-versions/create",
                name=name,
                source=f"s3://bench/{name}/{v}",
                description=f"build {v}",
                tags=[{"key": "metric.auc", "value": f"0.{80 + v}"}],
            )
        for v, stage in ((versions - 1, "Staging"), (versions, "Production")):
            if v >= 1:
                call(
                    "POST",
                    "model-versions/transition-stage",
                    name=name,
                    version=str(v),
                    stage=stage,
                    archive_existing_versions=False,
                )
        call("POST", "registered-models/alias", name=name, alias="champion", version=str(versions))

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for done, _ in enumerate(pool.map(one, range(models)), 1):
            if done % 100 == 0:
                print(f"  seeded {done} models", file=sys.stderr)


def timed_import(url: str, env: dict[str, str], concurrency: int, log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            [MODELGATE, "import", "mlflow", "--from", url, "--concurrency", str(concurrency)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
        )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"import failed ({done.returncode}): {done.stdout}\n(see {log})")
    print(f"  {done.stdout.strip()}", file=sys.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8, help="the import's --concurrency")
    parser.add_argument("--seed-concurrency", type=int, default=16)
    parser.add_argument("--mlflow-workers", type=int, default=4, help="mlflow server --workers")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args()

    admin = sa.create_engine(
        database_url("postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    recreate(admin, SOURCE_DB, TARGET_DB)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELGATE_", "MLFLOW_"))}
    env.update(
        MODELGATE_DATABASE_URL=database_url(TARGET_DB, "postgresql"),
        MODELGATE_SECRET_KEY="bench-import",  # noqa: S106 - a scratch database's key
    )
    try:
        with mlflow_server.running(database_url(SOURCE_DB), workers=args.mlflow_workers) as url:
            started = time.perf_counter()
            seed(url, args.models, args.versions, args.seed_concurrency)
            seeded = time.perf_counter() - started
            with sa.create_engine(database_url(SOURCE_DB)).connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
            subprocess.run([MODELGATE, "db", "upgrade"], env=env, check=True, capture_output=True)
            logs = Path(tempfile.gettempdir())
            first = timed_import(url, env, args.concurrency, logs / "bench-import-1.log")
            second = timed_import(url, env, args.concurrency, logs / "bench-import-2.log")
        target = sa.create_engine(database_url(TARGET_DB), poolclass=sa.pool.NullPool)
        with target.connect() as conn:
            models = conn.exec_driver_sql("SELECT count(*) FROM registered_models").scalar_one()
            versions = conn.exec_driver_sql("SELECT count(*) FROM model_versions").scalar_one()
            events = conn.exec_driver_sql(
                "SELECT count(*) FROM audit_events WHERE event = 'import'"
            ).scalar_one()
        target.dispose()
        if (models, versions) != (args.models, args.models * args.versions):
            sys.exit(f"the target holds {models} models and {versions} versions, not all")
        print(f"\nSeeding the MLflow server: {seeded:.1f} s")
        print("| run | models | versions | seconds | versions/s |")
        print("|---|---|---|---|---|")
        print(f"| first import | {models} | {versions} | {first:.1f} | {versions / first:,.0f} |")
        print(f"| second run (no change) | {models} | 0 | {second:.1f} | - |")
        print(f"\n{events} import events in the ledger.")
    finally:
        if not args.keep:
            with admin.connect() as conn:
                for name in (SOURCE_DB, TARGET_DB):
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
