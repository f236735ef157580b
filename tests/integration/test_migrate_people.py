"""Upgrading a registry with data to people-aware four-eyes: owners resolved to people,
pending approvals given persons, token prefixes cut short, and sock approvals made before
the upgrade counted once after it."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from registry.config import normalise_database_url
from registry.database import alembic_config
from registry.extensions import db
from tests.conftest import DEFAULT_POLICIES, make_app
from tests.helpers import RegistryClient

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
BOOTSTRAP = "a-chosen-16-char"  # what the old rules allowed
GENERATED = "mgt_" + "A" * 43
SOCKS = {"sock-1": "mgt_" + "s" * 43, "sock-2": "mgt_" + "t" * 43}
CAROL = "mgt_" + "c" * 43


def revisions() -> tuple[str, str]:
    """This change's revision and the one it upgrades from (whatever they are renumbered to)."""
    script = ScriptDirectory.from_config(alembic_config())
    [mine] = [r for r in script.walk_revisions() if r.path.endswith("_people.py")]
    return mine.revision, mine.down_revision


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def seed(url: str) -> None:
    """Rows as the old code wrote them: the bootstrap token (chosen), an admin token minted
    with it over the API (owner: the service id, the old default), two sock approver tokens
    minted with that one, a token of an account two people share tokens of, and a pending
    Production request with two sock approvals."""
    engine = sa.create_engine(normalise_database_url(url), poolclass=sa.pool.NullPool)
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    token_rows = [
        (1, "bootstrap-admin", "system:modelgate", BOOTSTRAP, "system:modelgate", "admin"),
        (2, "admin", "service:bootstrap-admin", GENERATED, "service:bootstrap-admin", "admin"),
        (3, "sock-1", "service:admin", SOCKS["sock-1"], "service:admin", "approver"),
        (4, "sock-2", "service:admin", SOCKS["sock-2"], "service:admin", "approver"),
        (5, "ci", "user:ann", "mgt_" + "a" * 43, "system:root", "contributor"),
        (6, "ci", "user:ben", "mgt_" + "b" * 43, "system:root", "contributor"),
        (7, "ci-child", "service:ci", "mgt_" + "d" * 43, "service:ci", "viewer"),
        (8, "carol", "user:carol", CAROL, "system:root", "approver"),
    ]
    with engine.begin() as conn:
        for row_id, name, owner, secret, created_by, role in token_rows:
            conn.execute(
                t["api_tokens"].insert(),
                {
                    "id": row_id,
                    "name": name,
                    "owner": owner,
                    "token_hash": digest(secret),
                    "prefix": secret[:12],
                    "grants": [{"role": role, "model_pattern": "*", "stages": None}],
                    "created_at": NOW,
                    "created_by": created_by,
                },
            )
        conn.execute(
            t["role_bindings"].insert(),
            {
                "id": 1,
                "subject": "group:leads",
                "role": "approver",
                "model_pattern": "*",
                "created_at": NOW,
                "created_by": "service:admin",
            },
        )
        conn.execute(
            t["registered_models"].insert(),
            {
                "id": 1,
                "name": "fraud",
                "name_key": "fraud",
                "last_version": 1,
                "created_at": NOW,
                "updated_at": NOW,
            },
        )
        conn.execute(
            t["model_versions"].insert(),
            {
                "id": 1,
                "model_id": 1,
                "version": 1,
                "source": "s3://m/1",
                "stage": "Staging",
                "status": "READY",
                "created_at": NOW,
                "updated_at": NOW,
            },
        )
        conn.execute(
            t["transition_requests"].insert(),
            {
                "id": 1,
                "model_id": 1,
                "version_id": 1,
                "from_stage": "Staging",
                "to_stage": "Production",
                "state": "pending",
                "requested_by": "service:admin",
                "requested_at": NOW,
                "archive_existing_versions": True,
                "required_approvals": 2,
                "policy": "production",
            },
        )
        for by in ("service:sock-1", "service:sock-2"):  # ids from the sequence: more follow
            conn.execute(t["approvals"].insert(), {"request_id": 1, "by": by, "at": NOW})
    engine.dispose()


def check_upgraded(url: str) -> None:
    engine = sa.create_engine(normalise_database_url(url), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        tokens = {
            row.id: row
            for row in conn.execute(
                sa.text(
                    "SELECT id, owner, prefix, created_by_person, state FROM api_tokens ORDER BY id"
                )
            )
        }
        request = conn.execute(
            sa.text("SELECT requested_by_person FROM transition_requests")
        ).scalar_one()
        persons = conn.execute(sa.text("SELECT person FROM approvals ORDER BY id")).scalars().all()
        binding = conn.execute(sa.text("SELECT created_by_person, state FROM role_bindings")).one()
    engine.dispose()
    # Chains of tokens minted over the API end at the person who minted the first.
    assert [tokens[i].owner for i in (1, 2, 3, 4)] == ["system:modelgate"] * 4
    assert [tokens[i].created_by_person for i in (2, 3)] == ["system:modelgate"] * 2
    assert (tokens[5].owner, tokens[6].owner) == ("user:ann", "user:ben")
    assert tokens[7].owner == "service:ci"  # two people answer for ci: no guess is made
    # Short prefixes: the (possibly chosen) bootstrap token keeps a quarter of 16.
    assert tokens[1].prefix == BOOTSTRAP[:4]
    assert tokens[2].prefix == GENERATED[:8]
    assert all(row.state == "active" for row in tokens.values())
    assert request == "system:modelgate"
    assert list(persons) == ["system:modelgate", "system:modelgate"]
    assert binding == ("system:modelgate", "active")


def after_upgrade(url: str, tmp_path: Path) -> None:
    """The pending request's two sock approvals are its requester's own: they count for
    nothing, and a real approver's is still one of two."""
    app = make_app(normalise_database_url(url), POLICY_PATH=DEFAULT_POLICIES)
    try:
        client = app.test_client()
        carol = RegistryClient(client, CAROL)
        request = carol.get("/api/v1/transition-requests/1").get_json()
        assert request["requested_by_person"] == "system:modelgate"
        assert [a["person"] for a in request["approvals"]] == ["system:modelgate"] * 2
        assert (
            carol.post("/api/v1/transition-requests/1/approve", {}, expect=200).get_json()["state"]
            == "pending"
        )
        sock = RegistryClient(client, SOCKS["sock-1"])
        refused = sock.post("/api/v1/transition-requests/1/approve", {}, expect=422)
        assert refused.get_json()["details"]["failed_checks"][0]["check"] == "self_approval"
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_upgrading_existing_data(request, backend, tmp_path):
    mine, before = revisions()
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("scratch_postgres_database")
    cfg = alembic_config(normalise_database_url(url))
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, before)
    seed(url)
    command.upgrade(cfg, mine)
    check_upgraded(url)
    command.upgrade(cfg, "head")
    after_upgrade(url, tmp_path)
    command.downgrade(cfg, before)  # and back, with the data in it
    command.upgrade(cfg, mine)
