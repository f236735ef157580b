"""Uploads racing for one path in real, concurrent transactions: one record, never a swap."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
import sqlalchemy as sa

from registry.domain import registered_models
from registry.domain.artifacts import ArtifactStore, parse_path
from registry.domain.errors import AlreadyExists
from registry.domain.principal import Grant, Role
from registry.extensions import db
from registry.orm import ArtifactFile, AuditEvent
from tests.integration.domain.conftest import ADMIN, ALICE, person

BOB = person("bob", Grant(Role.CONTRIBUTOR))


def race(app, store, bodies):
    """Each body uploaded to fraud/v1/model.pkl by its own thread and session, all received
    first and recorded together."""
    barrier = Barrier(len(bodies))
    where = parse_path("fraud/v1/model.pkl")

    def upload(i):
        with app.app_context():
            received = store.receive(io.BytesIO(bodies[i]))
            barrier.wait()
            try:
                created = store.record_upload(db.session, (ALICE, BOB)[i % 2], where, received)
                db.session.commit()
                return created
            except AlreadyExists as exc:
                db.session.rollback()
                return exc
            finally:
                received.discard()
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(upload, range(len(bodies))))


def recorded(app):
    with app.app_context():
        rows = db.session.execute(sa.select(ArtifactFile.path, ArtifactFile.sha256)).all()
        events = db.session.execute(
            sa.select(sa.func.count()).where(AuditEvent.event == "artifact.uploaded")
        ).scalar_one()
    return rows, events


@pytest.fixture
def store(app, committed, tmp_path):
    with app.app_context():
        registered_models.create_model(db.session, ADMIN, name="fraud")
        db.session.commit()
    return ArtifactStore(tmp_path / "store")


def test_different_bytes_one_wins_the_other_is_refused(app, store):
    outcomes = race(app, store, [b"first", b"second"])
    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyExists", "bool"]
    winner = b"first" if outcomes[0] is True else b"second"
    rows, events = recorded(app)
    assert rows == [("v1/model.pkl", hashlib.sha256(winner).hexdigest())]
    assert events == 1
    assert store.blob(hashlib.sha256(winner).hexdigest()).read_bytes() == winner


def test_the_same_bytes_twice_are_one_record(app, store):
    outcomes = race(app, store, [b"same", b"same"])
    assert sorted(outcomes) == [False, True]
    rows, events = recorded(app)
    assert rows == [("v1/model.pkl", hashlib.sha256(b"same").hexdigest())]
    assert events == 1
    assert not list((store.root / "@incoming").iterdir())  # no scratch file left behind
