"""The README's promises, checked: the walk-throughs work as written, the settings table is true."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from registry import config
from tests import helpers
from tests.helpers import MODELGATE, clean_env, free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
TOKEN = re.compile(r"^\s+(mgt_[A-Za-z0-9_-]{43})$", re.M)


def block(marker: str) -> str:
    match = re.search(rf"<!-- {marker}:.*?-->(.*?)<!-- /{marker} -->", README, re.S)
    assert match, f"README has no {marker} block"
    return match.group(1)


def commands(text: str) -> list[str]:
    """The shell commands of a ```sh block, continuation lines joined, comments dropped."""
    code = "\n".join(re.findall(r"```sh\n(.*?)```", text, re.S))
    joined = re.sub(r"\\\n\s*", " ", code)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, str, Path]]:
    """`modelgate serve` on the embedded default, in an empty working directory, and the
    admin token it prints on first start."""
    port = free_port()
    log = tmp_path / "server.log"
    with helpers.served(port, clean_env(), tmp_path, log):
        deadline = time.monotonic() + 10
        while not (found := TOKEN.search(log.read_text())) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert found, log.read_text()
        yield port, found.group(1), tmp_path


def run_walkthrough(lines: list[str], port: int, token: str, cwd: Path) -> list[dict]:
    """Run the lines as one shell session, as a reader would; every curl must succeed."""
    script = ["set -euo pipefail"]
    outputs = []
    for n, line in enumerate(lines):
        line = line.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
        line = line.replace(".venv/bin/modelgate", MODELGATE)
        if line.startswith("curl "):
            out = cwd / f"out_{n}.json"
            outputs.append(out)
            line += f" --fail-with-body -o {out}"
        script.append(line)
    env = clean_env(MODELGATE_TOKEN=token)
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        result.stdout + result.stderr + "".join(o.read_text() for o in outputs if o.exists())
    )
    return [json.loads(o.read_text()) for o in outputs]


def run_mlflow_walkthrough(text: str, port: int, token: str, cwd: Path) -> str:
    """The exports, then the Python, in one shell session with the real mlflow client."""
    exports = [line.replace("127.0.0.1:5000", f"127.0.0.1:{port}") for line in commands(text)]
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    env = clean_env(MODELGATE_TOKEN=token, CODE=code)
    result = subprocess.run(
        [
            "bash",
            "-c",
            "\n".join(["set -euo pipefail", *exports, f'"{sys.executable}" -c "$CODE"']),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_the_walkthroughs_work_as_written(served) -> None:
    port, token, cwd = served
    first = run_walkthrough(commands(block("walkthrough")), port, token, cwd)
    assert first[-1]["version"] == 1
    assert first[-1]["stage"] == "Staging"
    assert first[-1]["uri"] == "models:/fraud/1"

    second = run_walkthrough(commands(block("walkthrough-approvals")), port, token, cwd)
    requested, inbox, first_approval, second_approval, resolved = second
    assert (requested["id"], requested["state"], requested["required_approvals"]) == (
        2,
        "pending",
        2,
    )
    assert [r["id"] for r in inbox["transition_requests"]] == [2]
    assert inbox["transition_requests"][0]["available_actions"] == ["approve", "reject"]
    assert first_approval["state"] == "pending"
    assert second_approval["state"] == "applied"
    assert [(a["by"], a["person"]) for a in second_approval["approvals"]] == [
        ("service:lead-alice", "user:alice"),
        ("service:lead-bob", "user:bob"),
    ]
    assert resolved["stage"] == "Production"
    assert resolved["version"] == 1

    printed = run_mlflow_walkthrough(block("walkthrough-mlflow"), port, token, cwd)
    assert printed == "[('1', 'Production', 's3://models/fraud/1')]"


def test_the_settings_table_lists_every_setting() -> None:
    documented = set(re.findall(r"^\| `(MODELGATE_[A-Z_]+)`", block("settings"), re.M))
    declared = {setting.env for setting in config.SETTINGS}
    assert documented == declared


def test_the_settings_table_says_what_production_needs() -> None:
    rows = re.findall(r"^\| `(MODELGATE_[A-Z_]+)` \|.*\|(.*)\|$", block("settings"), re.M)
    documented = {name: cell.strip() for name, cell in rows}
    noted = {setting.env for setting in config.SETTINGS if setting.production}
    assert {name for name, cell in documented.items() if cell} == noted


SOURCE_TOKEN = "mgt_readme-source-admin-token-0123456789"


def test_moving_from_mlflow_works_as_written(served, tmp_path_factory) -> None:
    """The import commands, against a live source registry speaking MLflow's API."""
    port, token, cwd = served
    source_dir = tmp_path_factory.mktemp("readme-source")
    env = clean_env(
        MODELGATE_DATABASE_URL=f"sqlite:///{source_dir / 'source.db'}",
        MODELGATE_BOOTSTRAP_TOKEN=SOURCE_TOKEN,
        MODELGATE_POLICY_PATH=str(ROOT / "policies" / "examples" / "open.yaml"),
    )
    with helpers.served(free_port(), env, source_dir, source_dir / "server.log") as source:
        api = f"{source}/api/2.0/mlflow"
        auth = {"Authorization": f"Bearer {SOURCE_TOKEN}"}

        def call(endpoint: str, **body: object) -> None:
            answer = requests.post(f"{api}/{endpoint}", json=body, headers=auth, timeout=30)
            assert answer.status_code == 200, answer.text

        call("registered-models/create", name="churn")
        call("model-versions/create", name="churn", source="s3://models/churn/1")
        call("model-versions/create", name="churn", source="s3://models/churn/2")
        call(
            "model-versions/transition-stage",
            name="churn",
            version="2",
            stage="Production",
            archive_existing_versions=False,
        )
        call("registered-models/alias", name="churn", alias="champion", version="2")

        lines = [
            line.replace("https://mlflow.example.com", source).replace(
                ".venv/bin/modelgate", MODELGATE
            )
            for line in commands(block("walkthrough-import"))
        ]
        result = subprocess.run(
            ["bash", "-c", "\n".join(["set -euo pipefail", *lines])],
            cwd=cwd,
            env=clean_env(MLFLOW_TOKEN=SOURCE_TOKEN),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "churn: would be created (2 versions" in result.stderr
    assert "churn: created (2 versions" in result.stderr
    assert "Nothing changed at the source since the last run." in result.stdout
    model = requests.get(
        f"http://127.0.0.1:{port}/api/v1/models/churn",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    assert model["aliases"] == {"champion": 2}
    assert model["latest_versions"]["Production"] == 2
