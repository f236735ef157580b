"""A minute of mixed load against PostgreSQL, then the invariants that must still hold.

Resolvers, registrars (register a version, move it to Staging, ask for Production) and
approvers (approve what is pending) run side by side against `modelgate serve` with two
gunicorn workers, a webhook subscribed to everything and delivered by the embedded sender
to a receiver on loopback. Afterwards: no 5xx was ever answered, version numbers have no
gaps, no model has two versions in Production, the audit chain verifies, and there is
exactly one delivery per deliverable event, each received.
MODELGATE_LOAD_SECONDS changes the minute.
"""

from __future__ import annotations

import collections
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.helpers import MODELGATE, Receiver, clean_env, free_port, served

pytestmark = pytest.mark.postgres
SECONDS = float(os.environ.get("MODELGATE_LOAD_SECONDS", "60"))
MODELS = [f"load-{i}" for i in range(5)]
ADMIN = "load-test-admin-token-0001-0123456789"  # noqa: S105 - a throwaway server's
POLICIES = """\
policies:
  - {name: none, stage: None}
  - {name: staging, stage: Staging}
  - name: production
    stage: Production
    from: [Staging, Archived]
    min_approvals: 1
    approver_roles: [approver]
    forbid_self_approval: true
    archive_existing_versions: true
    exclusive: true
  - {name: archived, stage: Archived}
"""


def session(token: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def test_a_minute_of_mixed_load_keeps_every_invariant(scratch_postgres_url, tmp_path: Path):
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICIES)
    env = clean_env(
        MODELGATE_DATABASE_URL=scratch_postgres_url,
        MODELGATE_SECRET_KEY="load-test-secret-key-load-test",
        MODELGATE_BOOTSTRAP_TOKEN=ADMIN,
        MODELGATE_POLICY_PATH=str(policy),
        MODELGATE_RATE_LIMIT="",
        MODELGATE_WEBHOOK_ALLOW_LOOPBACK="true",
        MODELGATE_WEBHOOK_SWEEP_SECONDS="1",
    )
    subprocess.run([MODELGATE, "db", "upgrade"], env=env, check=True, capture_output=True)
    statuses: collections.Counter[tuple[str, int]] = collections.Counter()
    stop = threading.Event()

    with (
        Receiver() as receiver,
        served(free_port(), env, tmp_path, tmp_path / "serve.log", "--workers", "2") as base,
    ):
        admin = session(ADMIN)
        contributor = session(
            admin.post(
                f"{base}/api/v1/tokens", json={"name": "registrar", "roles": ["contributor"]}
            ).json()["token"]
        )
        # The approver is another person than the registrar (whose token, minted with the
        # admin's, is the admin's): the operator mints it for them, as four eyes need.
        approver = session(
            subprocess.run(
                [MODELGATE, "token", "create", "--name", "approver", "--role", "approver"]
                + ["--owner", "user:approver"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
        reader = session(
            admin.post(
                f"{base}/api/v1/tokens", json={"name": "deployer", "roles": ["viewer"]}
            ).json()["token"]
        )
        hook = admin.post(
            f"{base}/api/v1/webhooks", json={"url": receiver.url, "events": ["*"]}
        ).json()
        for name in MODELS:
            assert admin.post(f"{base}/api/v1/models", json={"name": name}).status_code == 201

        def note(kind: str, response: requests.Response) -> requests.Response:
            statuses[(kind, response.status_code)] += 1
            return response

        def resolver(i: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                name = MODELS[n % len(MODELS)]
                note(
                    "resolve",
                    reader.get(
                        f"{base}/api/v1/resolve", params={"uri": f"models:/{name}/Production"}
                    ),
                )

        def registrar(i: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                name = MODELS[(i + n) % len(MODELS)]
                created = note(
                    "register",
                    contributor.post(
                        f"{base}/api/v1/models/{name}/versions", json={"source": f"s3://b/{n}"}
                    ),
                )
                if created.status_code != 201:
                    continue
                path = f"{base}/api/v1/models/{name}/versions/{created.json()['version']}"
                note(
                    "staging", contributor.post(f"{path}/transitions", json={"to_stage": "Staging"})
                )
                note(
                    "request",
                    contributor.post(f"{path}/transitions", json={"to_stage": "Production"}),
                )

        def approver_loop(i: int) -> None:
            while not stop.is_set():
                inbox = note(
                    "inbox",
                    approver.get(
                        f"{base}/api/v1/transition-requests",
                        params={"state": "pending", "max_results": 20},
                    ),
                )
                for request in inbox.json().get("transition_requests", []):
                    note(
                        "approve",
                        approver.post(
                            f"{base}/api/v1/transition-requests/{request['id']}/approve",
                            json={"comment": "ok"},
                        ),
                    )
                time.sleep(0.05)

        workers = (
            [threading.Thread(target=resolver, args=(i,)) for i in range(4)]
            + [threading.Thread(target=registrar, args=(i,)) for i in range(3)]
            + [threading.Thread(target=approver_loop, args=(i,)) for i in range(2)]
        )
        for t in workers:
            t.start()
        time.sleep(SECONDS)
        stop.set()
        for t in workers:
            t.join(timeout=60)

        # 1. Never a fault of ours.
        assert not [k for k in statuses if k[1] >= 500], statuses
        assert statuses[("register", 201)] > 0
        assert statuses[("approve", 200)] > 0
        verify = admin.get(f"{base}/api/v1/audit/verify").json()

        engine = sa.create_engine(
            scratch_postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
        )
        try:
            # One snapshot for every count: the server is still up, and writes the summaries
            # of the refusals it counted (a registrar asking for Production again while a
            # request is pending, approvers racing) as each minute closes.
            with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
                numbers: dict[str, list[int]] = collections.defaultdict(list)
                for name, version in conn.execute(
                    sa.text(
                        "SELECT m.name, v.version FROM model_versions v "
                        "JOIN registered_models m ON m.id = v.model_id ORDER BY m.name, v.version"
                    )
                ):
                    numbers[name].append(version)
                doubled = conn.execute(
                    sa.text(
                        "SELECT model_id FROM model_versions WHERE stage = 'Production' "
                        "GROUP BY model_id HAVING count(*) > 1"
                    )
                ).all()
                in_production = conn.execute(
                    sa.text("SELECT count(*) FROM model_versions WHERE stage = 'Production'")
                ).scalar()
                deliverable = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM audit_events WHERE event NOT LIKE 'token.%' AND "
                        "event NOT LIKE 'role_binding.%' AND event NOT LIKE 'webhook.%' AND "
                        "event NOT LIKE 'policy.%' AND event NOT LIKE 'access.%'"
                    )
                ).scalar()
                deliveries, distinct = conn.execute(
                    sa.text(
                        "SELECT count(*), count(DISTINCT event_seq) FROM webhook_deliveries "
                        "WHERE webhook_id = :id"
                    ),
                    {"id": hook["id"]},
                ).one()
                message_ids = set(
                    conn.execute(
                        sa.text("SELECT message_id FROM webhook_deliveries WHERE webhook_id = :id"),
                        {"id": hook["id"]},
                    ).scalars()
                )
        finally:
            engine.dispose()

        # 2. Version numbers 1..n per model, 3. one version at most in Production,
        # 4. an unbroken ledger, 5. one delivery per event per subscription, all received.
        assert {
            name: nums == list(range(1, len(nums) + 1)) for name, nums in numbers.items()
        } == dict.fromkeys(MODELS, True)
        assert doubled == []
        assert in_production > 0
        assert verify["ok"] is True
        assert deliveries == distinct == deliverable == len(message_ids)
        # Every delivery of the snapshot arrives (a summary written since may arrive too).
        deadline = time.monotonic() + 120
        while not message_ids <= {r["headers"]["webhook-id"] for r in receiver.requests}:
            assert time.monotonic() < deadline, "deliveries did not all arrive in 120s"
            time.sleep(0.5)
        print(
            f"\nload: {sum(statuses.values())} requests in {SECONDS:.0f}s, "
            f"{dict(sorted(statuses.items()))}; versions {sum(map(len, numbers.values()))}, "
            f"in Production {in_production}, events checked {verify['events_checked']}, "
            f"deliveries {deliveries}"
        )
