"""The modelgate command: migrations, and serve on PostgreSQL (gunicorn workers, no migration)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import MODELGATE, clean_env, free_port, wait_until_up


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MODELGATE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_db_upgrade_and_check_on_the_embedded_default(tmp_path):
    env = clean_env()
    assert run("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    assert (tmp_path / "modelgate.db").exists()
    check = run("db", "check", env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "(head)" in run("db", "current", env=env, cwd=tmp_path).stdout


def test_a_bad_setting_stops_the_command_with_its_name(tmp_path):
    result = run(
        "db", "upgrade", env=clean_env(MODELGATE_DATABASE_URL="postgresql://h/db"), cwd=tmp_path
    )
    assert result.returncode != 0
    assert "MODELGATE_SECRET_KEY" in result.stderr


@pytest.mark.postgres
def test_serve_on_postgres_waits_for_migrations_then_runs_the_workers(
    scratch_postgres_database, tmp_path
):
    env = clean_env(
        MODELGATE_DATABASE_URL=scratch_postgres_database, MODELGATE_SECRET_KEY="cli-test"
    )
    refused = run("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert refused.returncode != 0
    assert "modelgate db upgrade" in refused.stderr

    assert run("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    port = free_port()
    with subprocess.Popen(
        [MODELGATE, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as server:
        try:
            wait_until_up(f"http://127.0.0.1:{port}", server)
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=30)
    assert output.count("Booting worker") == 2, output
    assert not (tmp_path / "modelgate.db").exists()  # no embedded database was made


def test_policies_check_validates_and_names_the_line(tmp_path):
    ok = run("policies", "check", str(ROOT / "policies"), env=clean_env(), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "6 policies OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies:\n  - name: p\n    stage: Prod\n")
    result = run("policies", "check", str(bad), env=clean_env(), cwd=tmp_path)
    assert result.returncode == 1
    assert "bad.yaml:3: policy 'p': stage: 'Prod' is not one of" in result.stderr


def test_serve_refuses_an_invalid_policy_before_starting(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies:\n  - {name: p, stage: Staging, min_approvals: lots}\n")
    result = run(
        "serve",
        "--port",
        str(free_port()),
        env=clean_env(MODELGATE_POLICY_PATH=str(bad)),
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "bad.yaml:2" in result.stderr
    assert "Booting worker" not in result.stdout + result.stderr


def _bootstrap_expiry(tmp_path):
    import datetime as dt

    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'modelgate.db'}")
    with engine.connect() as conn:
        (expires_at,) = conn.execute(
            sa.text("SELECT expires_at FROM api_tokens WHERE name = 'bootstrap-admin'")
        ).one()
    engine.dispose()
    if isinstance(expires_at, str):
        expires_at = dt.datetime.fromisoformat(expires_at)
    return expires_at.replace(tzinfo=expires_at.tzinfo or dt.UTC)


def test_the_first_admin_token_expires(tmp_path):
    """The bootstrap token is a way in, not a credential to keep: a day by default."""
    import datetime as dt

    upgraded = run("db", "upgrade", env=clean_env(), cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "it expires in 1 day" in upgraded.stdout
    left = _bootstrap_expiry(tmp_path) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < left <= dt.timedelta(hours=24)


def test_a_chosen_bootstrap_token_expires_too(tmp_path):
    import datetime as dt

    env = clean_env(
        MODELGATE_BOOTSTRAP_TOKEN="mgt_chosen-bootstrap-token-0123456789",
        MODELGATE_BOOTSTRAP_TOKEN_TTL="2h",
    )
    upgraded = run("db", "upgrade", env=env, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "it expires in 2 hours" in upgraded.stdout
    assert "mgt_chosen" not in upgraded.stdout
    left = _bootstrap_expiry(tmp_path) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=1) < left <= dt.timedelta(hours=2)
