"""SECURITY.md names the tests that prove its threat model: each must exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_security_md_names_exists():
    named = set(re.findall(r"::(test_\w+)", (ROOT / "SECURITY.md").read_text()))
    assert named, "SECURITY.md names no test"
    defined = {
        match
        for path in (ROOT / "tests").rglob("test_*.py")
        for match in re.findall(r"^def (test_\w+)\(", path.read_text(), re.M)
    }
    assert named - defined == set()
