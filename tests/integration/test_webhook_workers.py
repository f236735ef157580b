"""Webhooks through the real machinery: Celery workers and beat over a real Redis, the
embedded sender of `modelgate serve`, and the faults the outbox exists for (Redis down at
commit, a worker killed mid-delivery, the process killed between commit and hand-off)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import standardwebhooks

from registry.domain import identity
from registry.domain.principal import system
from registry.extensions import db
from registry.orm import WebhookDelivery
from tests.conftest import AUDIT_KEY, OPEN_POLICIES, REDIS_URL, SECRET, make_app, require_service
from tests.helpers import MODELGATE, Receiver, RegistryClient, clean_env, free_port, served

pytestmark = pytest.mark.postgres
FAST = {
    "WEBHOOK_ALLOW_LOOPBACK": "true",
    "WEBHOOK_SWEEP_SECONDS": "1",
    "WEBHOOK_REDISPATCH_SECONDS": "2",
    "WEBHOOK_TIMEOUT_SECONDS": "5",
    "WEBHOOK_RETRY_SCHEDULE": "1,1,1",
}


class Installation:
    """An API app (in this process), and worker/beat processes, sharing one PostgreSQL
    database and one Redis (under a key prefix of their own)."""

    def __init__(self, database_url: str, redis_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.prefix = f"mgtest-{uuid.uuid4().hex[:8]}:"
        self.workdir = workdir
        self.processes: list[subprocess.Popen[str]] = []
        self.extra_env: dict[str, str] = {}
        self.app = make_app(
            database_url,
            REDIS_URL=redis_url,
            REDIS_KEY_PREFIX=self.prefix,
            **{k: _typed(v) for k, v in FAST.items()},
        )
        with self.app.app_context():
            token = identity.create_token(db.session, system(), name="admin", roles=["admin"])
            db.session.commit()
        self.admin = RegistryClient(self.app.test_client(), token.token)

    def env(self) -> dict[str, str]:
        return clean_env(
            MODELGATE_DATABASE_URL=self.database_url,
            MODELGATE_REDIS_URL=self.redis_url,
            MODELGATE_REDIS_KEY_PREFIX=self.prefix,
            MODELGATE_SECRET_KEY=SECRET,  # the same key seals and opens webhook secrets
            MODELGATE_POLICY_PATH=OPEN_POLICIES,
            MODELGATE_AUDIT_SIGNING_KEY=AUDIT_KEY,
            **{f"MODELGATE_{k}": v for k, v in FAST.items()},
            **self.extra_env,
        )

    def start(self, command: str, *args: str) -> subprocess.Popen[str]:
        log = self.workdir / f"{command}-{len(self.processes)}.log"
        with log.open("w") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [MODELGATE, command, *args],
                env=self.env(),
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # its own process group: killed whole, pool included
            )
        self.processes.append(process)
        if command == "worker":
            wait_for_text(log, "ready.", process)
        return process

    def kill(self, process: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process, signal.SIGTERM)
        with self.app.app_context():
            db.engine.dispose()

    def deliveries(self) -> list[WebhookDelivery]:
        with self.app.app_context():
            rows = db.session.execute(sa.select(WebhookDelivery)).scalars().all()
            db.session.remove()
            return rows

    def wait_delivered(self, count: int, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(d.state == "delivered" for d in self.deliveries()) >= count:
                return
            time.sleep(0.2)
        raise AssertionError(f"not delivered: {[(d.id, d.state) for d in self.deliveries()]}")


def _typed(value: str) -> Any:
    return {"true": True}.get(value, value)


def wait_for_text(log: Path, text: str, process: subprocess.Popen[str], timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        assert process.poll() is None, f"{process.args} exited:\n{log.read_text()}"
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {log}:\n{log.read_text()}")


@pytest.fixture
def redis_url() -> str:
    return require_service(REDIS_URL, "Redis", "MODELGATE_TEST_REDIS_URL")


@pytest.fixture
def private_redis(tmp_path) -> Iterator[dict[str, Any]]:
    """A Redis server of this test's own, which the test may stop and start again."""
    server = shutil.which("redis-server")
    if server is None:
        require_service(None, "redis-server", "PATH")
    port = free_port()
    command = [
        server,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
    ]
    state: dict[str, Any] = {"url": f"redis://127.0.0.1:{port}/0"}

    def start() -> None:
        state["process"] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        import redis

        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(state["url"]).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop() -> None:
        state["process"].terminate()
        state["process"].wait(timeout=10)

    state["start"], state["stop"] = start, stop
    start()
    yield state
    if state["process"].poll() is None:
        stop()


@pytest.fixture
def installation(scratch_postgres_url, redis_url, tmp_path) -> Iterator[Installation]:
    inst = Installation(scratch_postgres_url, redis_url, tmp_path)
    yield inst
    inst.close()


def promote(admin: RegistryClient, name: str = "fraud") -> None:
    admin.create_model(name)
    admin.create_version(name)
    admin.transition(name, 1, "Production")


def test_a_worker_delivers_a_promotion_signed(installation):
    with Receiver() as receiver:
        hook = installation.admin.post(
            "/api/v1/webhooks",
            {"url": receiver.url, "events": ["model_version.stage_changed"]},
            expect=201,
        ).get_json()
        installation.start("worker", "--concurrency", "2")

        promote(installation.admin)

        (request,) = receiver.wait_for(1, timeout=30)
        payload = standardwebhooks.Webhook(hook["secret"]).verify(
            request["body"], request["headers"]
        )
        assert payload["type"] == "model_version.stage_changed"
        assert payload["data"]["to_stage"] == "Production"
        installation.wait_delivered(1)


def test_redis_down_at_commit_loses_nothing(scratch_postgres_url, private_redis, tmp_path):
    inst = Installation(scratch_postgres_url, private_redis["url"], tmp_path)
    try:
        with Receiver() as receiver:
            inst.admin.post(
                "/api/v1/webhooks",
                {"url": receiver.url, "events": ["model.created"]},
                expect=201,
            )
            private_redis["stop"]()

            started = time.monotonic()
            inst.admin.create_model("fraud")  # the API keeps serving
            assert time.monotonic() - started < 10
            (waiting,) = inst.deliveries()
            assert waiting.state == "pending"

            private_redis["start"]()
            inst.start("worker", "--concurrency", "1")
            inst.start("beat")  # its sweep hands the delivery out again

            (request,) = receiver.wait_for(1, timeout=40)
            assert request["headers"]["webhook-id"] == waiting.message_id
            inst.wait_delivered(1)
    finally:
        inst.close()


def test_a_worker_killed_mid_delivery_is_delivered_once_by_webhook_id(installation):
    with Receiver() as receiver:
        receiver.script = [(204, {}, 3.0)]  # the first attempt hangs while we kill the worker
        installation.admin.post(
            "/api/v1/webhooks", {"url": receiver.url, "events": ["model.created"]}, expect=201
        )
        first = installation.start("worker", "--concurrency", "1")
        installation.admin.create_model("fraud")
        receiver.wait_for(1, timeout=30)
        installation.kill(first)  # mid-delivery: the receiver has not answered yet

        installation.start("worker", "--concurrency", "1")
        installation.start("beat")
        installation.wait_delivered(1, timeout=60)  # once the dead worker's lease lapsed

        ids = [r["headers"]["webhook-id"] for r in receiver.requests]
        assert len(ids) >= 2
        assert len(set(ids)) == 1  # a receiver de-duplicating on webhook-id acts once
        assert len({r["body"] for r in receiver.requests}) == 1


KILL_AFTER_COMMIT = textwrap.dedent(
    """
    import os, sys
    import sqlalchemy as sa
    from sqlalchemy.orm import Session
    from registry import create_app
    from registry.domain import registered_models, webhooks
    from registry.domain.principal import system
    from registry.extensions import db

    app = create_app()
    # Runs before the hook that hands new deliveries to Celery: the process dies with the
    # change and its deliveries committed, and nothing sent.
    def die(session):
        if session.info.get(webhooks.NEW_DELIVERIES):
            os._exit(3)

    sa.event.listen(Session, "after_commit", die, insert=True)
    with app.app_context():
        registered_models.create_model(db.session, system(), name=sys.argv[1])
        db.session.commit()
    """
)


def test_a_process_killed_between_commit_and_hand_off_is_swept(installation):
    with Receiver() as receiver:
        installation.admin.post(
            "/api/v1/webhooks", {"url": receiver.url, "events": ["model.created"]}, expect=201
        )
        died = subprocess.run(
            [sys.executable, "-c", KILL_AFTER_COMMIT, "fraud"],
            env=installation.env(),
            cwd=installation.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert died.returncode == 3, died.stderr
        (orphan,) = installation.deliveries()
        assert orphan.state == "pending"

        installation.start("worker", "--concurrency", "1")
        installation.start("beat")

        (request,) = receiver.wait_for(1, timeout=40)
        assert json.loads(request["body"])["data"]["model"] == "fraud"
        installation.wait_delivered(1)


def test_the_embedded_default_delivers_without_redis(tmp_path):
    token = "bootstrap-admin-token-for-the-tests"
    env = clean_env(
        MODELGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'registry.db'}",
        MODELGATE_BOOTSTRAP_TOKEN=token,
        MODELGATE_POLICY_PATH=OPEN_POLICIES,
        **{f"MODELGATE_{k}": v for k, v in FAST.items()},
    )
    import requests

    with Receiver() as receiver, served(free_port(), env, tmp_path, tmp_path / "serve.log") as base:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        hook = session.post(
            f"{base}/api/v1/webhooks",
            json={"url": receiver.url, "events": ["model.created", "webhook.test"]},
        ).json()
        assert session.post(f"{base}/api/v1/models", json={"name": "fraud"}).status_code == 201
        assert session.post(f"{base}/api/v1/webhooks/{hook['id']}/test").status_code == 202

        requests_ = receiver.wait_for(2, timeout=30)
        assert sorted(json.loads(r["body"])["type"] for r in requests_) == [
            "model.created",
            "webhook.test",
        ]
        for r in requests_:
            standardwebhooks.Webhook(hook["secret"]).verify(r["body"], r["headers"])


def test_beat_publishes_signed_checkpoints_that_a_worker_delivers(installation):
    from tests.integration.test_webhook_delivery import verify_with_the_public_key_alone

    installation.extra_env["MODELGATE_AUDIT_CHECKPOINT_SECONDS"] = "1"
    with Receiver() as receiver:
        hook = installation.admin.post(
            "/api/v1/webhooks", {"url": receiver.url, "events": ["audit.*"]}, expect=201
        ).get_json()
        promote(installation.admin)
        installation.start("worker", "--concurrency", "1")
        installation.start("beat")

        request = receiver.wait_for(1, timeout=40)[0]
        body = standardwebhooks.Webhook(hook["secret"]).verify(request["body"], request["headers"])
        assert body["type"] == "audit.checkpoint"
        jwks = installation.admin.get("/api/v1/audit/checkpoint-keys").get_json()
        verify_with_the_public_key_alone(body["data"]["checkpoint"], jwks)
        result = installation.admin.post(
            "/api/v1/audit/verify", body["data"]["checkpoint"], expect=200
        ).get_json()
        assert result["ok"] is True, result


def test_the_embedded_default_publishes_checkpoints_without_redis(tmp_path):
    from tests.integration.test_webhook_delivery import verify_with_the_public_key_alone

    token = "bootstrap-admin-token-for-tests-0123456789"
    env = clean_env(
        MODELGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'registry.db'}",
        MODELGATE_BOOTSTRAP_TOKEN=token,
        MODELGATE_POLICY_PATH=OPEN_POLICIES,
        MODELGATE_AUDIT_CHECKPOINT_SECONDS="1",
        **{f"MODELGATE_{k}": v for k, v in FAST.items()},
    )
    import requests

    with Receiver() as receiver, served(free_port(), env, tmp_path, tmp_path / "serve.log") as base:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        hook = session.post(
            f"{base}/api/v1/webhooks", json={"url": receiver.url, "events": ["audit.checkpoint"]}
        ).json()
        assert session.post(f"{base}/api/v1/models", json={"name": "fraud"}).status_code == 201

        request = receiver.wait_for(1, timeout=30)[0]
        body = standardwebhooks.Webhook(hook["secret"]).verify(request["body"], request["headers"])
        jwks = requests.get(f"{base}/api/v1/audit/checkpoint-keys", timeout=10).json()
        verify_with_the_public_key_alone(body["data"]["checkpoint"], jwks)
    # The embedded default's key lives beside its database, readable by its owner alone.
    assert (tmp_path / "registry.audit.key").stat().st_mode & 0o777 == 0o600
