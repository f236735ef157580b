"""Idempotency-Key on POST: a retry gets the first answer and changes nothing more."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from registry.extensions import db
from tests.helpers import RegistryClient, error_code


def register(registry, key, source="s3://b/model"):
    return registry.post(
        "/api/v1/models/fraud/versions", {"source": source}, headers={"Idempotency-Key": key}
    )


def test_a_retried_registration_does_not_make_a_second_version(registry):
    registry.create_model("fraud")
    first = register(registry, "k-1")
    retried = register(registry, "k-1")
    assert first.status_code == 201
    assert retried.status_code == 201
    assert retried.get_json() == first.get_json()
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert retried.headers["ETag"] == first.headers["ETag"]
    versions = registry.get("/api/v1/models/fraud/versions").get_json()["versions"]
    assert [v["version"] for v in versions] == [1]
    created = registry.get("/api/v1/audit?event=model_version.created").get_json()["events"]
    assert len(created) == 1
    assert register(registry, "k-2").get_json()["version"] == 2  # a new key, a new version


def test_a_key_reused_for_another_request_is_refused(registry):
    registry.create_model("fraud")
    register(registry, "k-1", source="s3://b/one")
    reused = register(registry, "k-1", source="s3://b/two")
    assert reused.status_code == 400
    assert error_code(reused) == "INVALID_ARGUMENT"
    assert "different request" in reused.get_json()["message"]


def test_keys_belong_to_their_caller(registry, as_role):
    registry.create_model("fraud")
    other = as_role("contributor")
    assert register(registry, "shared").get_json()["version"] == 1
    assert register(other, "shared").get_json()["version"] == 2


def test_a_refused_request_keeps_no_key(registry):
    refused = register(registry, "k-1")  # no such model yet
    assert refused.status_code == 404
    registry.create_model("fraud")
    assert register(registry, "k-1").status_code == 201  # the retry runs for real


def test_malformed_keys_are_refused(registry):
    registry.create_model("fraud")
    for key in ("x" * 256, "caf\u00e9"):
        response = register(registry, key)
        assert response.status_code == 400, key
        assert error_code(response) == "INVALID_ARGUMENT"


def test_other_posts_are_idempotent_too(registry):
    first = registry.post("/api/v1/models", {"name": "fraud"}, headers={"Idempotency-Key": "m"})
    again = registry.post("/api/v1/models", {"name": "fraud"}, headers={"Idempotency-Key": "m"})
    assert first.status_code == 201
    assert again.status_code == 201  # the first answer, not 409 ALREADY_EXISTS
    assert again.get_json() == first.get_json()


def test_racing_retries_make_one_version(committed, registry):
    registry.create_model("fraud")
    barrier = threading.Barrier(4)
    statuses = []

    def retry():
        client = RegistryClient(committed.test_client(), registry.token)
        barrier.wait()
        statuses.append(register(client, "race").status_code)

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with committed.app_context():
        count = db.session.execute(sa.text("SELECT count(*) FROM model_versions")).scalar()
    assert count == 1
    assert set(statuses) <= {201, 409}  # 409: the winner was still storing its answer
    assert 201 in statuses


def test_keys_are_kept_for_a_day(app, registry):
    import datetime as dt

    from registry.domain import idempotency

    registry.create_model("fraud")
    register(registry, "old")
    with app.app_context():
        later = idempotency.utcnow() + dt.timedelta(hours=25)
        assert idempotency.purge_expired(db.session, now=later) == 1
        assert idempotency.purge_expired(db.session, now=later) == 0
        db.session.commit()
    assert register(registry, "old").get_json()["version"] == 2  # forgotten: a new request


def _opened_answers(app):
    """Every stored answer, opened with the service's own key: what a copy of the database
    and its key file would give away."""
    from registry.delivery import outbox

    with app.app_context():
        box = outbox.runtime().box
        rows = db.session.execute(sa.text("SELECT response_body FROM idempotency_keys")).all()
        return [box.open(row[0]) for row in rows if row[0]]


@pytest.mark.parametrize(
    ("path", "body", "secret_field"),
    [
        ("/api/v1/tokens", {"name": "ci", "roles": ["admin"]}, "token"),
        (
            "/api/v1/webhooks",
            {"url": "https://hooks.example.com/in", "events": ["*"]},
            "secret",
        ),
    ],
)
def test_a_secret_shown_once_is_never_kept_with_the_stored_answer(
    app, registry, path, body, secret_field
):
    """A database copy plus its key must not give back a live admin token or a webhook's
    signing secret: the stored answer leaves the secret out, and a replay says so."""
    first = registry.post(path, body, headers={"Idempotency-Key": "t"}, expect=201)
    secret = first.get_json()[secret_field]
    assert "Idempotent-Secret-Withheld" not in first.headers
    again = registry.post(path, body, headers={"Idempotency-Key": "t"}, expect=201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Idempotent-Secret-Withheld"] == secret_field
    replayed = again.get_json()
    assert secret_field not in replayed
    assert replayed == {k: v for k, v in first.get_json().items() if k != secret_field}
    opened = _opened_answers(app)
    assert opened
    assert not [answer for answer in opened if secret in answer]
    with app.app_context():  # and sealed, too: nothing of it readable without the key
        raw = db.session.execute(sa.text("SELECT response_body FROM idempotency_keys")).all()
    assert raw
    assert not [row for row in raw if row[0] and '"name"' in row[0]]


def test_rotating_a_webhook_secret_keeps_the_new_secret_out_of_the_stored_answer(app, registry):
    hook = registry.post(
        "/api/v1/webhooks", {"url": "https://hooks.example.com/in", "events": ["*"]}, expect=201
    ).get_json()
    rotate = f"/api/v1/webhooks/{hook['id']}/rotate-secret"
    first = registry.post(rotate, {}, headers={"Idempotency-Key": "r"})
    assert first.status_code < 300, first.get_data(as_text=True)
    again = registry.post(rotate, {}, headers={"Idempotency-Key": "r"})
    assert again.headers["Idempotent-Secret-Withheld"] == "secret"
    assert "secret" not in again.get_json()
    assert not [a for a in _opened_answers(app) if first.get_json()["secret"] in a]
