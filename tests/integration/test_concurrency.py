"""Races between real transactions: numbering, unique names, alias moves, the audit chain."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import sqlalchemy as sa

from registry.domain import ledger
from registry.extensions import db
from registry.orm import AuditEvent
from registry.orm.audit import GENESIS_HASH
from tests.helpers import RegistryClient


def race(app, token, count, call):
    """Run ``call(client, i)`` from ``count`` threads released at the same instant."""
    barrier = Barrier(count)

    def run(i):
        client = RegistryClient(app.test_client(), token)
        barrier.wait()
        return call(client, i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_twenty_racing_registrations_get_twenty_consecutive_numbers(committed, tokens):
    admin = tokens("admin")
    RegistryClient(committed.test_client(), admin).create_model("raced")
    responses = race(
        committed,
        admin,
        20,
        lambda c, i: c.post("/api/v1/models/raced/versions", {"source": f"s3://b/{i}"}),
    )
    assert [r.status_code for r in responses] == [201] * 20
    numbers = sorted(r.get_json()["version"] for r in responses)
    assert numbers == list(range(1, 21))


def test_racing_creations_of_one_name_leave_one_winner(committed, tokens):
    admin = tokens("admin")
    responses = race(
        committed,
        admin,
        10,
        lambda c, i: c.post("/api/v1/models", {"name": "Contested" if i % 2 else "contested"}),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9
    assert {r.get_json()["error_code"] for r in responses if r.status_code == 409} == {
        "ALREADY_EXISTS"
    }


def test_racing_alias_moves_leave_the_alias_on_exactly_one_version(committed, tokens):
    admin = tokens("admin")
    client = RegistryClient(committed.test_client(), admin)
    client.create_model("m")
    for _ in range(8):
        client.create_version("m")
    responses = race(
        committed,
        admin,
        8,
        lambda c, i: c.put("/api/v1/models/m/aliases/champion", {"version": i + 1}, expect=None),
    )
    assert all(r.status_code == 200 for r in responses)
    holders = [v for v in range(1, 9) if client.version("m", v)["aliases"] == ["champion"]]
    assert len(holders) == 1
    assert client.model("m")["aliases"] == {"champion": holders[0]}


def test_concurrent_writers_never_fork_the_audit_chain(committed, tokens):
    admin = tokens("admin")
    client = RegistryClient(committed.test_client(), admin)
    for i in range(4):
        client.create_model(f"m{i}")
    race(committed, admin, 16, lambda c, i: c.create_version(f"m{i % 4}"))
    with committed.app_context():
        rows = db.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    previous = GENESIS_HASH
    for row in rows:
        assert row.prev_hash == previous
        assert ledger.hash_of(row) == row.hash
        previous = row.hash
    assert sum(r.event == "model_version.created" for r in rows) == 16
