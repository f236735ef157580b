"""Refusal counts survive a clean shutdown: a real server is flooded past its threshold and
stopped, and every refused request is in the ledger, one by one or counted."""

from __future__ import annotations

import json
import sqlite3

import requests

from tests.conftest import OPEN_POLICIES
from tests.helpers import clean_env, free_port, served

ADMIN = "refusal-flood-admin-token-0123456789"  # noqa: S105 - a throwaway server's


def test_counted_refusals_are_written_when_the_server_stops(tmp_path):
    database = tmp_path / "registry.db"
    env = clean_env(
        MODELGATE_DATABASE_URL=f"sqlite:///{database}",
        MODELGATE_BOOTSTRAP_TOKEN=ADMIN,
        MODELGATE_SECRET_KEY="refusal-flood-secret-key-0123456789",
        MODELGATE_POLICY_PATH=OPEN_POLICIES,
        MODELGATE_REFUSALS_PER_CREDENTIAL="2",
        MODELGATE_RATE_LIMIT="",
    )
    sent = 7
    with served(free_port(), env, tmp_path, tmp_path / "serve.log") as base:
        viewer = requests.post(
            f"{base}/api/v1/tokens",
            json={"name": "flooder", "roles": ["viewer"]},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        ).json()["token"]
        for i in range(sent):
            response = requests.post(
                f"{base}/api/v1/models",
                json={"name": f"m{i}"},
                headers={"Authorization": f"Bearer {viewer}"},
                timeout=10,
            )
            assert response.status_code == 403
    # The server has stopped (SIGTERM, as Kubernetes stops a pod).

    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT data FROM audit_events WHERE event = 'access.denied' "
            "AND actor = 'service:flooder' ORDER BY seq"
        ).fetchall()
    events = [json.loads(data) for (data,) in rows]
    summaries = [e for e in events if e.get("aggregated")]
    assert summaries, events
    one_by_one = len(events) - len(summaries)
    assert one_by_one + sum(s["count"] for s in summaries) == sent
    assert one_by_one <= 2 * len(summaries)  # at most the threshold per minute
