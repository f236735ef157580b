"""The README's promises, checked: the walk-through works as written, the settings table is true."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import config
from tests.helpers import MODELGATE, free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def block(marker: str) -> str:
    match = re.search(rf"<!-- {marker}:.*?-->(.*?)<!-- /{marker} -->", README, re.S)
    assert match, f"README has no {marker} block"
    return match.group(1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[int]:
    """`modelgate serve` on the embedded default, in an empty working directory."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    with subprocess.Popen(
        [MODELGATE, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            wait_until_up(f"http://127.0.0.1:{port}", process)
            yield port
        finally:
            process.terminate()
            process.communicate(timeout=30)
    assert (tmp_path / "modelgate.db").exists()


def commands(text: str) -> list[str]:
    """The shell commands of a ```sh block, continuation lines joined, comments dropped."""
    code = "\n".join(re.findall(r"```sh\n(.*?)```", text, re.S))
    joined = re.sub(r"\\\n\s*", " ", code)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_the_walkthrough_works_as_written(served: int) -> None:
    outputs = []
    for command in commands(block("walkthrough")):
        command = command.replace("127.0.0.1:5000", f"127.0.0.1:{served}")
        assert shlex.split(command)[0] == "curl"
        result = subprocess.run(
            ["bash", "-c", command + " -w '\\n%{http_code}'"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        body, _, status = result.stdout.rpartition("\n")
        assert status.startswith("2"), f"{command}\n-> {status} {body}"
        outputs.append(json.loads(body))
    resolved = outputs[-1]
    assert resolved["version"] == 1
    assert resolved["stage"] == "Staging"
    assert resolved["uri"] == "models:/fraud/1"


def test_the_settings_table_lists_every_setting() -> None:
    documented = set(re.findall(r"^\| `(MODELGATE_[A-Z_]+)`", block("settings"), re.M))
    declared = {setting.env for setting in config.SETTINGS}
    assert documented == declared
