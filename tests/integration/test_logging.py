"""Logs as JSON lines: the request id a caller sees is the one in the log line."""

from __future__ import annotations

import io
import json
import logging
import shutil

import pytest

from registry import observability
from registry.auth import public
from tests.conftest import make_app


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
