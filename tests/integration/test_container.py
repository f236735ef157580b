"""The Dockerfile, checked without a Docker engine: its shape, and the commands it runs.

No engine runs here, so the image is never built in CI. What can be proven is: the final
stage is slim, unprivileged and free of build tools; the context is small; and the very
command and health check the image declares start the API on PostgreSQL, answer, count
metrics across gunicorn's worker processes, log JSON and stop cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from registry.serve import server
from tests.conftest import ROOT, SECRET
from tests.helpers import free_port, wait_until_up

DOCKERFILE = (ROOT / "Dockerfile").read_text()
VENV_BIN = Path(sys.executable).parent


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def exec_form(keyword: str) -> list[str]:
    (args,) = [rest for k, rest in final_stage() if k == keyword]
    args = args.removeprefix("CMD").strip()
    if keyword == "HEALTHCHECK":
        args = args[args.index("CMD ") + 4 :]
    command = json.loads(args)  # exec form: no shell between the runtime and the process
    assert isinstance(command, list)
    return command


def test_the_image_is_built_in_two_stages_and_runs_unprivileged():
    stages = [rest for keyword, rest in instructions(DOCKERFILE) if keyword == "FROM"]
    assert len(stages) == 2
    assert all("slim" in stage or stage.startswith("${PYTHON_IMAGE}") for stage in stages)
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE)
    final = final_stage()
    (user,) = [rest for keyword, rest in final if keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit()  # numeric, so Kubernetes can check runAsNonRoot
    assert int(uid) >= 10000
    # Only the built virtualenv crosses over; nothing is compiled or installed in the final
    # stage, so no compiler, headers or pip end up in it.
    assert [rest for keyword, rest in final if keyword == "COPY"] == [
        "--from=build /opt/modelgate /opt/modelgate"
    ]
    assert exec_form("CMD") == ["gunicorn", "--config", server.GUNICORN_CONFIG, server.APP]
    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    assert not re.search(r"apt-get|apk |gcc|build-essential|pip ", runs)
    assert "--without-pip" in DOCKERFILE


def test_the_build_context_holds_only_what_the_wheel_is_built_from():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    assert lines.index("*") < lines.index(f"!{allowed[0]}")  # all out, then a few back in
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {
        "pyproject.toml",
        "README.md",
        "requirements/constraints.txt",
        *wheel["packages"],
        *wheel["force-include"],
    }
    assert needed <= set(allowed)


@pytest.mark.postgres
def test_the_image_command_serves_counts_across_workers_logs_json_and_stops(
    scratch_postgres_url, tmp_path
):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}",
        PORT=str(port),
        MODELGATE_DATABASE_URL=scratch_postgres_url,
        MODELGATE_SECRET_KEY=SECRET,
        MODELGATE_LOG_FORMAT="json",
        MODELGATE_WEB_WORKERS="2",
        MODELGATE_DB_POOL_SIZE="3",
        MODELGATE_DB_MAX_OVERFLOW="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"")  # a previous run's leftovers
    health = exec_form("HEALTHCHECK")
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - the Dockerfile's own command
            exec_form("CMD"), env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        assert subprocess.run(health, env=env, timeout=10).returncode == 0  # noqa: S603
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "from-the-probe"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            ours = response.headers["X-Request-ID"]
            assert ours != "from-the-probe"
        # Both workers report once each has built the app; /readyz answered when the first
        # had, so scrape until the second has too (or the deadline says it never will).
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
                text = r.read().decode()
            if "modelgate_db_pool_connections_max 8.0" in text or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=40)
    assert returncode == 0
    assert subprocess.run(health, env=env, timeout=10, capture_output=True).returncode != 0

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    # Both workers built the app with a pool of 3 + 1: the figure is their sum, whichever
    # worker answered the scrape.
    assert samples[("modelgate_db_pool_connections_max", ())] == 8
    ok = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
    assert samples[("modelgate_http_requests_total", ok)] >= 2  # the probe and ours

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines, log.read_text()
    (access,) = [e for e in lines if e.get("client_request_id") == "from-the-probe"]
    assert (access["logger"], access["path"], access["status"], access["request_id"]) == (
        "gunicorn.access",
        "/healthz",
        200,
        ours,
    )
    assert any(e["message"].startswith("Booting worker") for e in lines)
    assert not (tmp_path / "metrics" / "counter_1.db").exists()
