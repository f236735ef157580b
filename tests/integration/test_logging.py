"""Logs as JSON lines: the request id a caller sees is the one in the log line."""

from __future__ import annotations

import io
import json
import logging
import shutil

import pytest
import requests

from registry.web import observability
from registry.web.auth import public
from tests.conftest import OPEN_POLICIES, make_app
from tests.helpers import clean_env, free_port, served


@pytest.fixture
def json_app(tmp_path, sqlite_template):
    shutil.copy(sqlite_template, tmp_path / "logs.db")
    app = make_app(f"sqlite:///{tmp_path / 'logs.db'}", LOG_FORMAT="json")

    @public
    def explode():
        raise RuntimeError("the disk is on fire")

    app.add_url_rule("/__explode", "explode", explode)
    handler = next(h for h in logging.getLogger("modelgate").handlers if h.formatter)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield app, stream
    handler.setStream(previous)
    # Logging is process-wide: leave it as the other tests expect it.
    observability.configure_logging("INFO", "text", names=(app.name,))


def test_an_error_is_logged_as_json_under_the_id_the_caller_got(json_app):
    app, stream = json_app
    response = app.test_client().get("/__explode", headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 500
    ours = response.headers["X-Request-ID"]
    assert ours != "trace-42"
    assert response.get_json()["request_id"] == ours
    assert "fire" not in response.get_data(as_text=True)  # no traceback for the caller

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (entry,) = [line for line in lines if line["logger"] == "modelgate.errors"]
    assert entry["level"] == "ERROR"
    assert entry["request_id"] == ours
    assert entry["client_request_id"] == "trace-42"  # kept apart, for the caller's traces
    assert "RuntimeError: the disk is on fire" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_a_fresh_request_id_is_made_when_the_caller_sends_none_or_junk(json_app):
    app, _ = json_app
    client = app.test_client()
    first = client.get("/__explode").headers["X-Request-ID"]
    second = client.get("/__explode", headers={"X-Request-ID": "bad id; DROP"}).headers[
        "X-Request-ID"
    ]
    assert len(first) == 32
    assert second not in (first, "bad id; DROP")


def test_extra_fields_become_json_fields():
    record = logging.LogRecord("modelgate.x", logging.INFO, __file__, 1, "served %s", ("a",), None)
    record.status = 200
    entry = json.loads(observability.JsonFormatter().format(record))
    assert entry["message"] == "served a"
    assert entry["status"] == 200
    assert "request_id" not in entry


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_access_log_names_the_principal_and_the_app_logs_refusals(tmp_path, log_format):
    admin_token = "access-log-admin-token-0123456789"  # noqa: S105 - a throwaway server's
    wrong = "access-log-wrong-token-0123456789"  # noqa: S105
    env = clean_env(
        MODELGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'registry.db'}",
        MODELGATE_BOOTSTRAP_TOKEN=admin_token,
        MODELGATE_SECRET_KEY="access-log-secret-key-0123456789",
        MODELGATE_POLICY_PATH=OPEN_POLICIES,
        MODELGATE_LOG_FORMAT=log_format,
    )
    log = tmp_path / "serve.log"
    with served(free_port(), env, tmp_path, log) as base:
        admin = {"Authorization": f"Bearer {admin_token}", "X-Request-ID": "as-admin"}
        assert requests.get(f"{base}/api/v1/models", headers=admin, timeout=10).ok
        refused = requests.post(
            f"{base}/api/v1/models",
            json={"name": "fraud"},
            headers={"Authorization": f"Bearer {wrong}", "X-Request-ID": "as-nobody"},
            timeout=10,
        )
        assert refused.status_code == 401
    written = log.read_text()
    assert admin_token not in written
    assert wrong not in written

    # Request ids are ours; the caller's X-Request-ID is logged apart, as client_request_id.
    if log_format == "text":
        lines = written.splitlines()
        (admin_line,) = [line for line in lines if "client_request_id=as-admin" in line]
        assert admin_line.endswith("principal=service:bootstrap-admin")
        (access_line,) = [line for line in lines if "client_request_id=as-nobody" in line]
        assert access_line.endswith("principal=-")  # nobody authenticated
        ours = access_line.split("request_id=", 1)[1].split()[0]
        (refusal,) = [line for line in lines if "modelgate.refusals" in line]
        assert f"[{ours}]" in refusal
        assert "WARNING" in refusal
        assert "POST /api/v1/models" in refusal
        assert "UNAUTHENTICATED (unknown_token)" in refusal
        return
    lines = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
    by_id = {
        line["client_request_id"]: line
        for line in lines
        if line["logger"] == "gunicorn.access" and line.get("client_request_id")
    }
    assert by_id["as-admin"]["principal"] == "service:bootstrap-admin"
    assert by_id["as-nobody"]["principal"] is None
    (refusal,) = [line for line in lines if line["logger"] == "modelgate.refusals"]
    assert refusal["request_id"] == by_id["as-nobody"]["request_id"]
    assert refusal["client_request_id"] == "as-nobody"
    assert refusal["level"] == "WARNING"
    assert (refusal["route"], refusal["error_code"], refusal["reason"]) == (
        "POST /api/v1/models",
        "UNAUTHENTICATED",
        "unknown_token",
    )
    assert refusal["event"] == "access.denied"
    assert refusal["principal"] is None
