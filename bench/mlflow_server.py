"""A real MLflow tracking server for the benchmarks, in a virtual environment of its own.

The full ``mlflow`` package pins an older gunicorn than Modelgate's, so it never goes into
the project's .venv: :func:`ensure_venv` installs it into bench/.venv-mlflow (ignored by
git) the first time, and :func:`running` starts ``mlflow server`` on a free loopback port with
the backend store you give it (a PostgreSQL database of its own, or SQLite), waits until it
answers, and stops it afterwards.

    from bench.mlflow_server import ensure_venv, running

    with running("postgresql://postgres@127.0.0.1/mlflow_bench") as url:
        ...  # url is http://127.0.0.1:<port>, speaking MLflow's REST API
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv-mlflow"
MLFLOW = "mlflow==3.17.2"  # the version the protocol notes were checked against
EXTRAS = ("psycopg2-binary",)  # for a PostgreSQL backend store


def ensure_venv(venv: Path = VENV) -> Path:
    """The ``mlflow`` executable of ``venv``, installing mlflow there first if it is missing."""
    mlflow = venv / "bin" / "mlflow"
    if mlflow.exists():
        return mlflow
    print(f"Installing {MLFLOW} into {venv} (once; a few minutes)...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, MLFLOW, *EXTRAS], check=True)
    return mlflow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll /health until it answers (the first start migrates the backend store)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server did not answer within {timeout} s:\n{log.read_text()}")


@contextlib.contextmanager
def running(
    backend_store_uri: str, *, workers: int = 2, timeout: float = 300, venv: Path = VENV
) -> Iterator[str]:
    """``mlflow server`` on ``backend_store_uri``; yields its URL, stops it on the way out.

    Artifacts go to a temporary directory (the benchmarks register remote ``s3://`` sources
    and never upload). Its output is kept in that directory's ``server.log``, shown if it
    fails to start.
    """
    mlflow = ensure_venv(venv)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as scratch:
        log = Path(scratch) / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        command = [
            str(mlflow),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--backend-store-uri",
            backend_store_uri,
            "--default-artifact-root",
            str(Path(scratch) / "artifacts"),
        ]
        with (
            log.open("w") as out,
            subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=scratch
            ) as process,
        ):
            try:
                wait_until_up(url, process, log, timeout)
                yield url
            finally:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
