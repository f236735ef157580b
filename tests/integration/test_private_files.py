"""What the embedded default leaves on disk is its owner's alone, and a clone carries no key.

Run against real `modelgate serve` processes started under the usual umask (022), as a
person's shell would start them.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT
from tests.helpers import MODELGATE, clean_env, free_port, served

ADMIN = "mgt_private-files-admin-token-0123456789"  # noqa: S105 - a throwaway server's


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextlib.contextmanager
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def call(base: str, method: str, path: str, body: bytes | None = None, **headers: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - our own server on loopback
        base + path,
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {ADMIN}", **headers},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status


def test_serve_creates_the_database_key_and_artifacts_private(tmp_path):
    env = clean_env(MODELGATE_BOOTSTRAP_TOKEN=ADMIN)
    with usual_umask(), served(free_port(), env, tmp_path, tmp_path / "serve.log") as base:
        model = json.dumps({"name": "fraud"}).encode()
        assert call(base, "POST", "/api/v1/models", model, **{"Content-Type": "application/json"})
        assert call(
            base, "PUT", "/api/2.0/mlflow-artifacts/artifacts/fraud/v1/model.pkl", b"weights"
        )
        files = {
            name: mode(tmp_path / name)
            for name in (
                "modelgate.db",
                "modelgate.db-wal",
                "modelgate.db-shm",
                "modelgate.secret",
                "modelgate.audit.key",
            )
        }
        assert files == dict.fromkeys(files, 0o600)
        store = tmp_path / "mlartifacts"
        assert mode(store) == 0o700
        stored = list(store.rglob("*"))
        assert any(path.is_file() for path in stored)  # the upload is in there, by its digest
        assert [path for path in stored if mode(path) & 0o077] == []


def test_a_database_others_may_read_is_made_private_and_the_operator_told(tmp_path):
    env = clean_env(MODELGATE_BOOTSTRAP_TOKEN=ADMIN)
    upgraded = subprocess.run(  # noqa: S603
        [MODELGATE, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert upgraded.returncode == 0, upgraded.stderr
    database = tmp_path / "modelgate.db"
    database.chmod(0o644)  # as every embedded database was made before
    log = tmp_path / "serve.log"
    with usual_umask(), served(free_port(), env, tmp_path, log):
        assert mode(database) == 0o600
        assert mode(tmp_path / "modelgate.db-wal") == 0o600
    assert f"{database} could be read by other users of this machine" in log.read_text()


def test_a_fresh_clone_holds_no_key_and_ignores_one(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(  # noqa: S603
        ["git", "clone", "--quiet", str(ROOT), str(clone)],  # noqa: S607
        check=True,
        timeout=120,
    )
    tracked = subprocess.run(  # noqa: S603
        ["git", "ls-files"],  # noqa: S607
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert not [p for p in tracked if p.endswith((".secret", ".key", ".pem"))]
    assert not list(clone.rglob("*.secret"))
    for name in ("modelgate.secret", "other.secret", "tls.key", "tls.pem"):
        ignored = subprocess.run(  # noqa: S603
            ["git", "check-ignore", "--quiet", name],  # noqa: S607
            cwd=clone,
            timeout=30,
        )
        assert ignored.returncode == 0, f"{name} is not ignored"
