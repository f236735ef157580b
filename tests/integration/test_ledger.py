"""Every change writes its audit events in the same transaction, chained by hash."""

import sqlalchemy as sa

from registry.extensions import db
from registry.orm import AuditEvent
from tests.integration.domain.conftest import policies_from


def events(app):
    """The ledger, minus the test's own token minting."""
    with app.app_context():
        return (
            db.session.execute(
                sa.select(AuditEvent)
                .where(AuditEvent.event.not_like("token.%"))
                .order_by(AuditEvent.seq)
            )
            .scalars()
            .all()
        )


def test_each_change_records_its_event_with_actor_and_request_id(app, registry):
    created = registry.post(
        "/api/v1/models", {"name": "fraud"}, expect=201, headers={"X-Request-ID": "req-42"}
    )
    registry.create_version("fraud")
    registry.transition("fraud", 1, "Production")
    rows = events(app)
    assert [r.event for r in rows] == [
        "model.created",
        "model_version.created",
        "transition_request.created",
        "model_version.stage_changed",
        "transition_request.applied",
    ]
    assert rows[0].actor == "service:admin"
    assert rows[0].actor_kind == "service"
    assert rows[0].request_id == created.headers["X-Request-ID"] != "req-42"
    assert rows[0].client_request_id == "req-42"
    assert rows[1].client_request_id is None
    assert rows[3].data["from_stage"] == "None"
    assert rows[3].data["to_stage"] == "Production"
    assert [r.seq for r in rows] == list(range(rows[0].seq, rows[0].seq + 5))
    assert all(a.hash == b.prev_hash for a, b in zip(rows, rows[1:], strict=False))


def test_archived_incumbents_are_recorded_before_the_promotion(app, registry):
    registry.create_model("m")
    registry.create_version("m")
    registry.create_version("m")
    registry.transition("m", 1, "Production")
    registry.transition("m", 2, "Production", archive_existing_versions=True)
    changed = [
        (r.version, r.data["to_stage"])
        for r in events(app)
        if r.event == "model_version.stage_changed"
    ]
    assert changed == [(1, "Production"), (1, "Archived"), (2, "Production")]
    last = [r for r in events(app) if r.event == "model_version.stage_changed"][-1]
    assert last.data["archived_versions"] == [1]


def test_a_failed_change_records_nothing(app, registry):
    registry.create_model("m")
    before = len(events(app))
    registry.post("/api/v1/models", {"name": "M"}, expect=409)
    registry.post("/api/v1/models/m/versions", {"source": "relative"}, expect=400)
    assert len(events(app)) == before


def test_times_never_run_backwards_along_the_chain(app, registry):
    for i in range(5):
        registry.create_model(f"m{i}")
    times = [r.at for r in events(app)]
    assert times == sorted(times)


def test_a_rolled_back_savepoint_takes_only_its_own_events(app):
    from registry.domain import events, registered_models
    from registry.domain.principal import system

    with app.app_context():
        session = db.session
        registered_models.create_model(session, system(), name="kept")
        try:
            with session.begin_nested():
                events.record(
                    session,
                    "model.updated",
                    system(),
                    model="kept",
                    data={"note": "inside a savepoint that fails"},
                )
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        session.commit()
    names = [(r.event, r.model) for r in events_of(app)]
    assert ("model.created", "kept") in names
    assert ("model.updated", "kept") not in names


def test_a_savepoint_released_inside_one_rolled_back_keeps_the_outer_events(app):
    """SQLAlchemy fires before_commit when a savepoint is released: appending the events
    then would move the outer transaction's into the enclosing savepoint, and rolling that
    back would lose them while their changes stay."""
    from registry.domain import registered_models
    from registry.domain.principal import system

    with app.app_context():
        session = db.session
        registered_models.create_model(session, system(), name="kept")
        with session.begin_nested() as savepoint:
            # create_model releases a savepoint of its own (for the unique-name race).
            registered_models.create_model(session, system(), name="discarded")
            savepoint.rollback()
        session.commit()
        models = session.execute(sa.text("SELECT name FROM registered_models")).scalars().all()
    assert models == ["kept"]
    assert [(r.event, r.model) for r in events(app)] == [("model.created", "kept")]


def events_of(app):
    with app.app_context():
        return db.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()


STAGING_NEEDS_ONE = "policies:\n  - {name: s, stage: Staging, min_approvals: 1}\n"


def test_deleting_a_version_records_its_aliases_and_requests_ending(app, registry, use_policies):
    use_policies(policies_from(STAGING_NEEDS_ONE))
    registry.create_model("m")
    registry.create_version("m")
    registry.create_version("m")
    registry.put("/api/v1/models/m/aliases/champion", {"version": 1})
    registry.put("/api/v1/models/m/aliases/shadow", {"version": 1})
    request = registry.transition("m", 1, "Staging")
    assert request["state"] == "pending"
    registry.delete("/api/v1/models/m/versions/1", expect=204)
    tail = [
        (r.event, r.version, r.data.get("alias") or r.data.get("request_id"), r.data.get("reason"))
        for r in events_of(app)[-4:]
    ]
    assert tail == [
        ("model_version.alias_deleted", 1, "champion", "version deleted"),
        ("model_version.alias_deleted", 1, "shadow", "version deleted"),
        ("transition_request.cancelled", 1, request["id"], "version deleted"),
        ("model_version.deleted", 1, None, None),
    ]


def test_deleting_a_model_closes_its_pending_requests(app, registry, use_policies):
    use_policies(policies_from(STAGING_NEEDS_ONE))
    registry.create_model("m")
    registry.create_version("m")
    request = registry.transition("m", 1, "Staging")
    assert request["state"] == "pending"
    registry.delete("/api/v1/models/m", expect=204)
    closing = [r for r in events_of(app) if r.event == "transition_request.cancelled"]
    assert [(r.data["request_id"], r.data["reason"]) for r in closing] == [
        (request["id"], "model deleted")
    ]


def test_a_caller_cannot_file_its_change_under_another_requests_id(app, registry, as_role):
    """An insider who reuses the X-Request-ID of someone else's request gets an id of ours on
    the event; the value sent is kept apart, hashed with the event, and shown as sent."""
    first = registry.post("/api/v1/models", {"name": "fraud"}, expect=201)
    victims_id = first.headers["X-Request-ID"]
    contributor = as_role("contributor")
    forged = contributor.post(
        "/api/v1/models", {"name": "churn"}, expect=201, headers={"X-Request-ID": victims_id}
    )
    rows = events(app)
    by_model = {r.model: r for r in rows if r.event == "model.created"}
    assert by_model["fraud"].request_id == victims_id
    assert by_model["churn"].request_id == forged.headers["X-Request-ID"] != victims_id
    assert by_model["churn"].client_request_id == victims_id
    assert [r.model for r in rows if r.request_id == victims_id] == ["fraud"]
    shown = registry.get("/api/v1/audit?model=churn").get_json()["events"][0]
    assert (shown["request_id"], shown["client_request_id"]) == (
        forged.headers["X-Request-ID"],
        victims_id,
    )
    assert registry.get("/api/v1/audit/verify").get_json()["ok"] is True
    # The caller's value is covered by the hash: editing it breaks the chain.
    from registry.domain import ledger

    row = by_model["churn"]
    assert ledger.hash_of(row) == row.hash
    row.client_request_id = "someone-else"
    assert ledger.hash_of(row) != row.hash
