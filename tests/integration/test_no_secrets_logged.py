"""No secret ever reaches a log or the ledger: tokens, webhook secrets and the secret key are
scanned for in everything a server wrote, and in its audit export, while they were created,
used, refused and rotated."""

from __future__ import annotations

import base64

import requests

from registry.domain import checkpoints
from tests.conftest import OPEN_POLICIES
from tests.helpers import Receiver, clean_env, free_port, served

BOOTSTRAP = "bootstrap-secret-token-0123456789"  # noqa: S105 - a throwaway server's
SECRET_KEY = "the-service-secret-key-0123456789"  # noqa: S105 - a throwaway server's
AUDIT_KEY = checkpoints.new_private_pem()


def test_secrets_never_reach_the_logs(tmp_path):
    log = tmp_path / "serve.log"
    env = clean_env(
        MODELGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'registry.db'}",
        MODELGATE_BOOTSTRAP_TOKEN=BOOTSTRAP,
        MODELGATE_SECRET_KEY=SECRET_KEY,
        MODELGATE_POLICY_PATH=OPEN_POLICIES,
        MODELGATE_LOG_LEVEL="DEBUG",
        MODELGATE_LOG_FORMAT="json",
        MODELGATE_WEBHOOK_ALLOW_LOOPBACK="true",
        MODELGATE_AUDIT_SIGNING_KEY=AUDIT_KEY,
    )
    # The signing key's material: the base64 line between the PEM armour.
    secrets = [BOOTSTRAP, SECRET_KEY, AUDIT_KEY.splitlines()[1]]
    with Receiver() as receiver, served(free_port(), env, tmp_path, log) as base:
        admin = requests.Session()
        admin.headers["Authorization"] = f"Bearer {BOOTSTRAP}"
        token = admin.post(
            f"{base}/api/v1/tokens", json={"name": "ci", "roles": ["contributor"]}
        ).json()["token"]
        secrets.append(token)
        hook = admin.post(
            f"{base}/api/v1/webhooks", json={"url": receiver.url, "events": ["*"]}
        ).json()
        rotated = admin.post(f"{base}/api/v1/webhooks/{hook['id']}/rotate-secret", json={}).json()
        for secret in (hook["secret"], rotated["secret"]):
            secrets += [secret, secret.removeprefix("whsec_")]
        # Used, as bearer and as Basic (the MLflow client's way), refused, and revoked.
        user = requests.Session()
        user.headers["Authorization"] = f"Bearer {token}"
        assert user.post(f"{base}/api/v1/models", json={"name": "fraud"}).status_code == 201
        basic = base64.b64encode(f"me:{token}".encode()).decode()
        assert (
            requests.get(
                f"{base}/api/2.0/mlflow/registered-models/get",
                params={"name": "fraud"},
                headers={"Authorization": f"Basic {basic}"},
                timeout=10,
            ).status_code
            == 200
        )
        wrong = token[:-4] + "xxxx"
        secrets.append(wrong)
        for header in (f"Bearer {wrong}", f"Bearer {wrong} extra"):
            refused = requests.get(
                f"{base}/api/v1/models", headers={"Authorization": header}, timeout=10
            )
            assert refused.status_code == 401
            # A refused write is logged and put on the record: by fingerprint, not secret.
            refused = requests.post(
                f"{base}/api/v1/models",
                json={"name": "x"},
                headers={"Authorization": header},
                timeout=10,
            )
            assert refused.status_code == 401
        wrong_basic = base64.b64encode(f"me:{wrong}".encode()).decode()
        refused = requests.post(
            f"{base}/api/2.0/mlflow/registered-models/create",
            json={"name": "x"},
            headers={"Authorization": f"Basic {wrong_basic}"},
            timeout=10,
        )
        assert refused.status_code == 401
        token_id = admin.get(f"{base}/api/v1/tokens", params={"name": "ci"}).json()["tokens"][0]
        admin.delete(f"{base}/api/v1/tokens/{token_id['id']}")
        assert user.get(f"{base}/api/v1/models").status_code == 401
        receiver.wait_for(1, timeout=30)  # model.created was signed and sent meanwhile
        assert admin.get(f"{base}/api/v1/audit/checkpoint").status_code == 200  # signed
        ledger = admin.get(f"{base}/api/v1/audit/export", params={"format": "ndjson"}).text

    written = log.read_text()
    assert "POST /api/v1/tokens" in written  # the log did record the calls
    assert "access.denied" in ledger  # the refusals are on the record
    leaked = [s[:8] + "..." for s in secrets if s in written or s in ledger]
    assert leaked == []
