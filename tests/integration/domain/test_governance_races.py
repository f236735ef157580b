"""Approvals racing in real, concurrent transactions: exactly one winner, clean conflicts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import sqlalchemy as sa

from registry.domain import ledger, registered_models, transitions, versions
from registry.domain.errors import Conflict, PolicyViolation
from registry.domain.principal import Grant, Principal, Role
from registry.extensions import db
from registry.orm import AuditEvent, ModelVersion
from registry.orm.audit import GENESIS_HASH
from tests.integration.domain.conftest import ADMIN, ALICE, person, policies_from

APPROVERS = [person(f"approver{i}", Grant(Role.APPROVER)) for i in range(8)]


def in_threads(app, count, work):
    """Run work(i) in `count` threads released together, each in its own session."""
    barrier = Barrier(count)

    def run(i):
        with app.app_context():
            barrier.wait()
            try:
                result = work(i)
                db.session.commit()
                return result
            except (Conflict, PolicyViolation) as exc:
                db.session.rollback()
                return exc
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def setup_model(app, n_versions):
    with app.app_context():
        registered_models.create_model(db.session, ADMIN, name="raced")
        for i in range(n_versions):
            versions.create_version(db.session, ADMIN, "raced", source=f"s3://b/{i}")
        db.session.commit()


def production_versions(app):
    with app.app_context():
        return (
            db.session.execute(
                sa.select(ModelVersion.version).where(ModelVersion.stage == "Production")
            )
            .scalars()
            .all()
        )


def chain_is_intact(app):
    with app.app_context():
        rows = db.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
    previous = GENESIS_HASH
    for expected_seq, row in enumerate(rows, start=1):
        assert row.seq == expected_seq
        assert row.prev_hash == previous
        assert ledger.hash_of(row) == row.hash
        previous = row.hash
    return len(rows)


def test_eight_approvers_racing_on_a_two_approval_request(committed):
    policies = policies_from("""
policies:
  - {name: p, stage: Production, min_approvals: 2, approver_roles: [approver],
     forbid_self_approval: true, archive_existing_versions: true, exclusive: true}
""")
    setup_model(committed, 1)
    with committed.app_context():
        info = transitions.request_transition(
            db.session, ALICE, policies, "raced", 1, to_stage="Production"
        )
        db.session.commit()
    outcomes = in_threads(
        committed, 8, lambda i: transitions.approve(db.session, APPROVERS[i], policies, info.id)
    )
    states = sorted(o.state if not isinstance(o, Exception) else "conflict" for o in outcomes)
    assert states == [
        "applied",
        "conflict",
        "conflict",
        "conflict",
        "conflict",
        "conflict",
        "conflict",
        "pending",
    ]
    assert production_versions(committed) == [1]
    with committed.app_context():
        final = transitions.get_request(db.session, ADMIN, policies, info.id)
    assert len(final.approvals) == 2
    chain_is_intact(committed)


def test_one_persons_tokens_racing_to_approve_count_once(committed):
    """Six tokens of one owner approve at the same moment: one approval is recorded, the
    others are refused as the same person, and the request still waits for a second one."""
    policies = policies_from("""
policies:
  - {name: p, stage: Production, min_approvals: 2, approver_roles: [approver],
     forbid_self_approval: true}
""")
    socks = [
        Principal(f"sock-{i}", "service", (Grant(Role.APPROVER),), owner="user:mallory")
        for i in range(6)
    ]
    setup_model(committed, 1)
    with committed.app_context():
        info = transitions.request_transition(
            db.session, ALICE, policies, "raced", 1, to_stage="Production"
        )
        db.session.commit()
    outcomes = in_threads(
        committed, 6, lambda i: transitions.approve(db.session, socks[i], policies, info.id)
    )
    assert [o.state for o in outcomes if not isinstance(o, Exception)] == ["pending"]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 5
    assert all(o.failed_checks[0]["check"] == "distinct_approvers" for o in refused)
    assert production_versions(committed) == []
    with committed.app_context():
        final = transitions.get_request(db.session, ADMIN, policies, info.id)
    assert [a.person for a in final.approvals] == ["user:mallory"]
    chain_is_intact(committed)


def test_requests_for_an_exclusive_stage_racing_to_apply(committed):
    """Six versions, each with a pending request into an exclusive Production that does not
    archive: whichever approval lands first wins, every other one is refused."""
    policies = policies_from("""
policies:
  - {name: p, stage: Production, min_approvals: 1, approver_roles: [approver], exclusive: true}
""")
    setup_model(committed, 6)
    with committed.app_context():
        ids = [
            transitions.request_transition(
                db.session, ALICE, policies, "raced", v, to_stage="Production"
            ).id
            for v in range(1, 7)
        ]
        db.session.commit()
    outcomes = in_threads(
        committed, 6, lambda i: transitions.approve(db.session, APPROVERS[i], policies, ids[i])
    )
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1
    assert all(isinstance(o, PolicyViolation | Conflict) for o in outcomes if o not in winners)
    assert production_versions(committed) == [winners[0].version]
    chain_is_intact(committed)


def test_promotions_that_archive_racing_leave_exactly_one_in_production(committed):
    policies = policies_from("""
policies:
  - {name: p, stage: Production, min_approvals: 1, approver_roles: [approver],
     archive_existing_versions: true, exclusive: true}
""")
    setup_model(committed, 6)
    with committed.app_context():
        ids = [
            transitions.request_transition(
                db.session, ALICE, policies, "raced", v, to_stage="Production"
            ).id
            for v in range(1, 7)
        ]
        db.session.commit()
    outcomes = in_threads(
        committed, 6, lambda i: transitions.approve(db.session, APPROVERS[i], policies, ids[i])
    )
    assert all(not isinstance(o, Exception) for o in outcomes)  # they serialise, none fails
    assert len(production_versions(committed)) == 1
    with committed.app_context():
        archived = db.session.execute(
            sa.select(sa.func.count()).where(ModelVersion.stage == "Archived")
        ).scalar_one()
    assert archived == 5
    chain_is_intact(committed)
