"""Faults against the real services: PostgreSQL stopped under load and started again.

(The webhook faults, Redis stopped at commit, a worker killed mid-delivery and a process
killed between commit and hand-off, are in test_webhook_workers.py.)

This needs a PostgreSQL server the test may stop, so it runs its own: initdb and pg_ctl
from the machine's PostgreSQL, as the postgres user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import OPEN_POLICIES, PG_URL, require_service
from tests.helpers import MODELGATE, clean_env, free_port, served

pytestmark = pytest.mark.postgres
TOKEN = "fault-test-admin-token-0123456789"  # noqa: S105 - a throwaway server's


class PrivatePostgres:
    def __init__(self, root: Path) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not binaries or os.geteuid() != 0 or not shutil.which("runuser"):
            require_service(None, "PostgreSQL binaries and root (to run them as postgres)", "")
        self.bin = Path(binaries[-1])
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        shutil.chown(root, "postgres")
        self._as_postgres(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )

    def _as_postgres(self, program: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / program), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    require_service(PG_URL, "PostgreSQL", "MODELGATE_TEST_DATABASE_URL")
    # Not under pytest's tmp_path: the postgres user cannot reach into root's 0700 tree.
    root = Path(tempfile.mkdtemp(prefix="modelgate-pg-"))
    server = PrivatePostgres(root)
    server.start()
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        server.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_postgres_restarted_under_load_gives_503s_then_recovers(private_postgres, tmp_path):
    env = clean_env(
        MODELGATE_DATABASE_URL=private_postgres.url,
        MODELGATE_SECRET_KEY="fault-test-secret-key-fault-test",
        MODELGATE_BOOTSTRAP_TOKEN=TOKEN,
        MODELGATE_POLICY_PATH=OPEN_POLICIES,
        MODELGATE_RATE_LIMIT="",
    )
    subprocess.run(
        [MODELGATE, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120
    )
    results: list[tuple[float, str, int]] = []
    stop = threading.Event()

    def traffic(base: str, kind: str) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if kind == "write":
                    name = f"{threading.get_ident()}-{n}"
                    r = session.post(f"{base}/api/v1/models", json={"name": f"m{name}"}, timeout=30)
                else:
                    r = session.get(f"{base}/api/v1/models?max_results=5", timeout=30)
                status = r.status_code
                if status >= 500:
                    assert r.json()["error_code"] == "UNAVAILABLE", r.text
                elif status == 201:
                    created.append(r.json()["name"])
            except requests.ConnectionError:
                status = -1  # the server itself must never go away
            results.append((time.monotonic(), kind, status))
            time.sleep(0.01)

    created: list[str] = []
    with served(free_port(), env, tmp_path, tmp_path / "serve.log", "--workers", "2") as base:
        threads = [
            threading.Thread(target=traffic, args=(base, k))
            for k in ("read", "read", "write", "write")
        ]
        for t in threads:
            t.start()
        time.sleep(2)
        down_at = time.monotonic()
        private_postgres.stop()
        time.sleep(3)
        private_postgres.start()
        up_at = time.monotonic()
        time.sleep(4)
        stop.set()
        for t in threads:
            t.join(timeout=60)

        statuses = {s for _, _, s in results}
        during = [s for at, _, s in results if down_at + 0.5 < at < up_at]
        after = [s for at, _, s in results if at > up_at + 2]
        assert statuses <= {200, 201, 503}, statuses  # no 500, no dropped connection
        assert 503 in during
        assert after, "no requests after the restart"
        assert set(after) <= {200, 201}  # recovered without restarting the service

        # Nothing acknowledged was lost, and the ledger is whole.
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        for name in created:
            assert session.get(f"{base}/api/v1/models/{name}", timeout=10).status_code == 200
        verify = session.get(f"{base}/api/v1/audit/verify", timeout=60).json()
        assert verify["ok"] is True
        figures: dict[str, Any] = {
            "requests": len(results),
            "503": sum(s == 503 for _, _, s in results),
            "created": len(created),
        }
        print(f"PostgreSQL restart under load: {figures}")
