"""The modelgate command: migrations, and serve on PostgreSQL (gunicorn workers, no migration)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.helpers import MODELGATE, clean_env, free_port, served, wait_until_up


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
    assert "6 policies and 2 alias rules OK" in ok.stdout
    assert "warning" not in ok.stderr
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


def test_policies_check_warns_of_aliases_any_contributor_may_move(tmp_path):
    champion_only = tmp_path / "champion-only.yaml"
    champion_only.write_text(
        "policies:\n  - {name: s, stage: Staging}\n"
        "aliases:\n  - {name: champ, alias: champion, roles: [approver]}\n"
    )
    for path in (champion_only, ROOT / "policies" / "examples" / "open.yaml"):
        lenient = run("policies", "check", str(path), env=clean_env(), cwd=tmp_path)
        assert lenient.returncode == 0, lenient.stderr
        assert lenient.stderr.startswith("warning: ")
        assert "models:/NAME@ALIAS" in lenient.stderr
        strict = run("policies", "check", "--strict", str(path), env=clean_env(), cwd=tmp_path)
        assert strict.returncode == 1


def test_serve_warns_at_start_of_aliases_any_contributor_may_move(tmp_path):
    log = tmp_path / "server.log"
    open_policies = str(ROOT / "policies" / "examples" / "open.yaml")
    with served(free_port(), clean_env(MODELGATE_POLICY_PATH=open_policies), tmp_path, log):
        pass
    assert "WARNING" in log.read_text()
    assert "'open-aliases'" in log.read_text()
    assert "free for any contributor" in log.read_text()
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    with served(free_port(), clean_env(), quiet, quiet / "server.log"):
        pass
    assert "models:/NAME@ALIAS" not in (quiet / "server.log").read_text()


def test_serve_warns_of_aliases_left_outside_their_rules(tmp_path):
    """An alias set before the default rules bound aliases to Production keeps resolving;
    start-up says so, naming it, rather than breaking the pipelines that follow it."""
    token = "mgt_cli-stray-alias-admin-token-0123456789"
    env = clean_env(
        MODELGATE_BOOTSTRAP_TOKEN=token,
        MODELGATE_POLICY_PATH=str(ROOT / "policies" / "examples" / "open.yaml"),
    )
    with served(free_port(), env, tmp_path, tmp_path / "before.log") as url:
        headers = {"Authorization": f"Bearer {token}"}
        for method, path, body in (
            ("POST", "/api/v1/models", {"name": "fraud"}),
            ("POST", "/api/v1/models/fraud/versions", {"source": "s3://m/1"}),
            ("PUT", "/api/v1/models/fraud/aliases/champion", {"version": 1}),
        ):
            answer = requests.request(method, url + path, json=body, headers=headers, timeout=30)
            assert answer.status_code < 300, answer.text
    del env["MODELGATE_POLICY_PATH"]  # the shipped defaults
    with served(free_port(), env, tmp_path, tmp_path / "after.log"):
        pass
    log = (tmp_path / "after.log").read_text()
    assert "alias 'champion' of 'fraud' names version 1 (None), outside rule" in log
    assert "'aliases-follow-production' (Production only)" in log
