"""The key once committed to the repository is never served with.

An embedded registry whose key file holds it (every install started from a clone before the
fix) is seeded here as the old code left it: a webhook whose secret is sealed under that key,
and a stored idempotent answer of ``POST /api/v1/tokens`` holding a live token, sealed the
same way. A real ``modelgate serve`` must replace the key, seal both again under the new
one (the webhook still signs with its secret; the answer still replays, without the token),
say so once, and stop honouring a console cookie made with the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import standardwebhooks
from cryptography.fernet import Fernet
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.orm import Session

from registry import config, database
from registry.config import secret_keys
from registry.domain import idempotency, identity, on_commit, webhooks
from registry.domain import keys as sealed
from registry.domain.destinations import Reach
from registry.domain.principal import system
from registry.domain.sealing import SecretBox
from registry.orm import IdempotencyKey, Webhook
from registry.orm.base import utcnow
from tests.conftest import ROOT
from tests.helpers import MODELGATE, Receiver, clean_env, free_port, served

ADMIN = "mgt_committed-key-test-admin-0123456789"  # noqa: S105 - a throwaway registry's
MINT_BODY = b'{"name": "ci", "roles": ["admin"]}'


@pytest.fixture(scope="module")
def committed() -> str:
    shown = subprocess.run(
        ["git", "show", f"{secret_keys.COMMITTED_IN}:modelgate.secret"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if shown.returncode != 0:
        pytest.skip("this checkout has no history back to 544de06")
    return shown.stdout.strip()


def seed(workdir: Path, committed: str, receiver_url: str) -> dict[str, str]:
    """A registry as the old code left it, everything sealed under the committed key."""
    key_file = workdir / "modelgate.secret"
    key_file.write_text(committed + "\n")  # as a clone had it
    key_file.chmod(0o600)
    url = f"sqlite:///{workdir / 'modelgate.db'}"
    from alembic import command

    command.upgrade(database.alembic_config(url), "head")
    on_commit.install()
    old_box = SecretBox(SecretBox.derive(committed))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with Session(engine) as session:
            identity.create_token(
                session, system(), name="admin", roles=["admin"], owner="system:test", secret=ADMIN
            )
            hook = webhooks.create_webhook(
                session,
                system(),
                old_box,
                url=receiver_url,
                events=["*"],
                reach=Reach(allow_loopback=True),  # the receiver runs on this machine
            )
            minted = identity.create_token(
                session, system(), name="ci", roles=["admin"], owner="system:test"
            )
            answer = {"id": minted.id, "name": "ci", "roles": ["admin"], "token": minted.token}
            session.add(
                IdempotencyKey(
                    actor="service:admin",
                    key="mint-ci",
                    fingerprint=idempotency.fingerprint("POST", "/api/v1/tokens", "", MINT_BODY),
                    created_at=utcnow(),
                    status_code=201,
                    response_body=old_box.seal(json.dumps(answer)),
                    response_headers={"Content-Type": "application/json"},
                )
            )
            session.commit()
    finally:
        engine.dispose()
    return {"webhook_id": str(hook.id), "webhook_secret": hook.secret, "live": minted.token}


def console_cookie(key: str, token: str) -> str:
    """A console session cookie as the server makes one, made by whoever knows ``key``."""
    app = Flask("forger")
    app.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    fernet = Fernet(
        base64.urlsafe_b64encode(
            hashlib.sha256(b"modelgate-console-session\0" + key.encode()).digest()
        )
    )
    return serializer.dumps(
        {"mg_token": fernet.encrypt(token.encode()).decode(), "_permanent": True}
    )


def crash_before_commit(workdir: Path) -> None:
    """A start that chose the new key and died before sealing anything under it."""
    config.load({}, workdir=workdir)


def crash_after_commit(workdir: Path) -> None:
    """A start that sealed everything under the new key and died before moving it into
    place: the database is sealed under a key that lives only in .secret.next."""
    settings = config.load({}, workdir=workdir)
    on_commit.install()
    engine = sa.create_engine(settings["DATABASE_URL"], poolclass=sa.pool.NullPool)
    try:
        with Session(engine) as session:
            sealed.reseal(session, secret_keys.box(settings), system())
            session.commit()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "interrupted",
    [None, crash_before_commit, crash_after_commit],
    ids=["clean", "crash-before", "crash-after"],
)
def test_serve_replaces_the_committed_key_and_keeps_every_secret(tmp_path, committed, interrupted):
    env = clean_env(MODELGATE_WEBHOOK_ALLOW_LOOPBACK="true")
    log = tmp_path / "serve.log"
    with Receiver() as receiver:
        seeded = seed(tmp_path, committed, receiver.url)
        if interrupted:
            interrupted(tmp_path)
        with served(free_port(), env, tmp_path, log) as base:
            admin = requests.Session()
            admin.headers["Authorization"] = f"Bearer {ADMIN}"

            # The webhook still signs with the secret its receiver holds.
            tested = admin.post(f"{base}/api/v1/webhooks/{seeded['webhook_id']}/test", timeout=10)
            assert tested.status_code == 202, tested.text
            (delivery,) = receiver.wait_for(1)
            standardwebhooks.Webhook(seeded["webhook_secret"]).verify(
                delivery["body"], delivery["headers"]
            )

            # The stored answer still replays: the same token, never created twice, and its
            # secret no longer kept.
            replay = admin.post(
                f"{base}/api/v1/tokens",
                data=MINT_BODY,
                headers={"Idempotency-Key": "mint-ci", "Content-Type": "application/json"},
                timeout=10,
            )
            assert replay.status_code == 201, replay.text
            assert replay.headers["Idempotent-Replayed"] == "true"
            assert replay.headers["Idempotent-Secret-Withheld"] == "token"
            assert "token" not in replay.json()
            assert replay.json()["name"] == "ci"

            # A console cookie anyone could make with the public key is refused.
            forged = requests.get(
                f"{base}/ui/models",
                cookies={"modelgate_console": console_cookie(committed, ADMIN)},
                allow_redirects=False,
                timeout=10,
            )
            assert forged.status_code == 303
            assert "/ui/login" in forged.headers["Location"]

            replaced = admin.get(f"{base}/api/v1/audit?event=key.replaced", timeout=10).json()
            assert replaced["events"]
            assert replaced["events"][-1]["actor"] == "system:modelgate"
            assert replaced["events"][-1]["data"]["webhook_secrets"] == 1
            assert admin.get(f"{base}/api/v1/audit/verify", timeout=10).json()["ok"] is True

    key_file = tmp_path / "modelgate.secret"
    new_key = key_file.read_text().strip()
    assert not secret_keys.is_committed(new_key)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "modelgate.secret.next").exists()
    assert log.read_text().count("held the key that was committed") == 1

    # Nothing in the database opens with the public key any more, and no answer holds the
    # live token even for whoever has the new key.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'modelgate.db'}")
    with Session(engine) as session:
        (hook,) = session.execute(sa.select(Webhook)).scalars()
        answers = session.execute(sa.select(IdempotencyKey.response_body)).scalars().all()
    engine.dispose()
    with pytest.raises(RuntimeError):
        SecretBox(SecretBox.derive(committed)).open(hook.secret)
    box = SecretBox(SecretBox.derive(new_key))
    assert box.open(hook.secret) == seeded["webhook_secret"]
    assert not [a for a in answers if a and seeded["live"] in box.open(a)]

    # Said once: the next start changes nothing and says nothing. (And the cookie forger
    # above is faithful: with the key the server really has, its cookie is honoured.)
    with served(free_port(), env, tmp_path, log) as base:
        honoured = requests.get(
            f"{base}/ui/models",
            cookies={"modelgate_console": console_cookie(new_key, ADMIN)},
            allow_redirects=False,
            timeout=10,
        )
        assert honoured.status_code == 200
    assert key_file.read_text().strip() == new_key
    assert "held the key that was committed" not in log.read_text()


def test_serve_refuses_the_committed_key_given_as_the_secret_key(tmp_path, committed):
    refused = subprocess.run(  # noqa: S603
        [MODELGATE, "serve"],
        cwd=tmp_path,
        env=clean_env(MODELGATE_SECRET_KEY=committed),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "committed to Modelgate's repository" in refused.stderr
    assert not (tmp_path / "modelgate.db").exists()


def test_the_documented_rotation_of_an_embedded_key_keeps_every_secret(tmp_path):
    """SECURITY.md's steps: move the key file aside, `keys reseal` with it as a previous
    key, serve: the webhook still signs with its secret."""
    env = clean_env(MODELGATE_WEBHOOK_ALLOW_LOOPBACK="true", MODELGATE_BOOTSTRAP_TOKEN=ADMIN)
    with Receiver() as receiver:
        with served(free_port(), env, tmp_path, tmp_path / "first.log") as base:
            admin = requests.Session()
            admin.headers["Authorization"] = f"Bearer {ADMIN}"
            hook = admin.post(
                f"{base}/api/v1/webhooks", json={"url": receiver.url, "events": ["*"]}, timeout=10
            ).json()
        old = tmp_path / "old.secret"
        (tmp_path / "modelgate.secret").rename(old)
        resealed = subprocess.run(  # noqa: S603
            [MODELGATE, "keys", "reseal"],
            cwd=tmp_path,
            env={**env, "MODELGATE_PREVIOUS_SECRET_KEYS": old.read_text().strip()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert resealed.returncode == 0, resealed.stderr
        assert "1 webhook secret(s)" in resealed.stdout
        assert (tmp_path / "modelgate.secret").read_text() != old.read_text()
        old.unlink()
        with served(free_port(), env, tmp_path, tmp_path / "second.log") as base:
            tested = admin.post(f"{base}/api/v1/webhooks/{hook['id']}/test", timeout=10)
            assert tested.status_code == 202, tested.text
            (delivery,) = receiver.wait_for(1)
            standardwebhooks.Webhook(hook["secret"]).verify(delivery["body"], delivery["headers"])
            events = admin.get(f"{base}/api/v1/audit?event=key.resealed", timeout=10).json()
            assert len(events["events"]) == 1
