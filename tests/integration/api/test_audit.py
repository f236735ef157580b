"""The audit ledger through the API: every mutating route records its event; query, export,
verification, tamper evidence, stage history, and the auditor's role."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc

import pytest
import sqlalchemy as sa

from registry.domain import audit
from registry.domain.ledger import format_time
from registry.domain.principal import system
from registry.extensions import db
from registry.orm import AuditEvent
from registry.orm.base import utcnow
from tests.conftest import DEFAULT_POLICIES
from tests.helpers import error_code
from tests.integration.api.test_permission_matrix import SAMPLES, build_world, operations

# What each mutating operation must record (None: changes nothing, so records nothing).
EXPECTED_EVENTS = {
    ("post", "/api/v1/models"): ["model.created"],
    ("patch", "/api/v1/models/{name}"): ["model.updated"],
    ("delete", "/api/v1/models/{name}"): [
        "model_version.alias_deleted",
        "transition_request.cancelled",
        "model.deleted",
    ],
    ("put", "/api/v1/models/{name}/tags/{key}"): ["model.tag_set"],
    ("delete", "/api/v1/models/{name}/tags/{key}"): ["model.tag_deleted"],
    ("put", "/api/v1/models/{name}/aliases/{alias}"): ["model_version.alias_set"],
    ("delete", "/api/v1/models/{name}/aliases/{alias}"): ["model_version.alias_deleted"],
    ("post", "/api/v1/models/{name}/versions"): ["model_version.created"],
    ("patch", "/api/v1/models/{name}/versions/{version}"): ["model_version.updated"],
    ("delete", "/api/v1/models/{name}/versions/{version}"): ["model_version.deleted"],
    ("put", "/api/v1/models/{name}/versions/{version}/tags/{key}"): ["model_version.tag_set"],
    ("delete", "/api/v1/models/{name}/versions/{version}/tags/{key}"): [
        "model_version.tag_deleted"
    ],
    ("post", "/api/v1/models/{name}/versions/{version}/transitions"): [
        "transition_request.created",
        "model_version.stage_changed",
        "transition_request.applied",
    ],
    ("post", "/api/v1/models/{name}/versions/{version}/comments"): ["comment.created"],
    ("post", "/api/v1/transition-requests/{request_id}/approve"): [
        "transition_request.approved",
        "model_version.stage_changed",
        "transition_request.applied",
    ],
    ("post", "/api/v1/transition-requests/{request_id}/reject"): ["transition_request.rejected"],
    ("post", "/api/v1/transition-requests/{request_id}/cancel"): ["transition_request.cancelled"],
    ("post", "/api/v1/policies/evaluate"): None,  # a dry run
    ("post", "/api/v1/audit/verify"): None,  # reads the ledger against a checkpoint
    ("post", "/api/v1/tokens"): ["token.created"],
    ("delete", "/api/v1/tokens/{token_id}"): ["token.revoked"],
    ("post", "/api/v1/tokens/{token_id}/approve"): ["token.approved"],
    ("post", "/api/v1/role-bindings"): ["role_binding.created"],
    ("delete", "/api/v1/role-bindings/{binding_id}"): ["role_binding.deleted"],
    ("post", "/api/v1/role-bindings/{binding_id}/approve"): ["role_binding.approved"],
    ("post", "/api/v1/webhooks"): ["webhook.created"],
    ("patch", "/api/v1/webhooks/{webhook_id}"): ["webhook.updated"],
    ("delete", "/api/v1/webhooks/{webhook_id}"): ["webhook.deleted"],
    ("post", "/api/v1/webhooks/{webhook_id}/rotate-secret"): ["webhook.secret_rotated"],
    ("post", "/api/v1/webhooks/{webhook_id}/test"): ["webhook.tested"],
    ("post", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): [
        "webhook.redelivered"
    ],
}


def ledger(app, after=0):
    with app.app_context():
        return (
            db.session.execute(
                sa.select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)
            )
            .scalars()
            .all()
        )


def test_every_mutating_operation_names_its_events(app):
    mutating = {op for op in operations(app) if op[0] in ("post", "put", "patch", "delete")}
    assert mutating == set(EXPECTED_EVENTS)


@pytest.mark.parametrize("operation", sorted(EXPECTED_EVENTS), ids=lambda o: f"{o[0]} {o[1]}")
def test_each_mutating_route_records_its_event(
    app, client, registry, tokens, use_policies, operation
):
    use_policies(DEFAULT_POLICIES)
    world = build_world(registry, tokens, client, registry, None)  # a contributor files
    before = ledger(app)[-1].seq
    path, body = SAMPLES[operation](world)
    response = registry.call(
        operation[0].upper(), path, **({"json": body} if body is not None else {})
    )
    assert response.status_code < 500
    recorded = ledger(app, before)
    expected = EXPECTED_EVENTS[operation]
    if expected is None:
        assert recorded == []
        return
    assert response.status_code < 400, response.get_data(as_text=True)
    assert [r.event for r in recorded] == expected
    assert all(r.actor == "service:admin" for r in recorded)
    assert all(r.request_id == response.headers["X-Request-ID"] for r in recorded)


# --------------------------------------------------------------------------- query


@pytest.fixture
def history(registry):
    registry.create_model("fraud")
    registry.create_model("churn")
    for _ in range(3):
        registry.create_version("fraud")
    registry.transition("fraud", 1, "Production")
    registry.transition("fraud", 2, "Production", archive_existing_versions=True)
    registry.create_version("churn")
    return registry


def test_auditors_read_the_ledger_and_others_may_not(history, as_role):
    auditor = as_role("auditor")
    events = auditor.get("/api/v1/audit").get_json()["events"]
    assert events[0]["seq"] == 1
    assert {"seq", "at", "actor", "event", "model", "version", "data", "prev_hash", "hash"} <= set(
        events[0]
    )
    for role in ("viewer", "contributor", "approver"):
        assert error_code(as_role(role).get("/api/v1/audit", expect=403)) == "PERMISSION_DENIED"
        as_role(role).get("/api/v1/audit/verify", expect=403)


def test_filters_and_pages(history):
    def seqs(query):
        return [e["seq"] for e in history.get(f"/api/v1/audit?{query}").get_json()["events"]]

    def events(query):
        return [e["event"] for e in history.get(f"/api/v1/audit?{query}").get_json()["events"]]

    assert set(events("model=churn")) == {"model.created", "model_version.created"}
    changes = [
        e["data"]["to_stage"]
        for e in history.get("/api/v1/audit?model=fraud&version=1").get_json()["events"]
        if e["event"] == "model_version.stage_changed"
    ]
    assert changes == ["Production", "Archived"]
    assert set(events("event=transition_request.*")) == {
        "transition_request.created",
        "transition_request.applied",
    }
    assert events("event=model.created") == ["model.created", "model.created"]
    assert set(events("actor=service:admin")) >= {"model.created"}
    assert seqs("actor=user:nobody") == []
    everything = seqs("max_results=1000")
    assert everything == sorted(everything)
    page, token = [], None
    while True:
        body = history.get(
            "/api/v1/audit?max_results=4" + (f"&page_token={token}" if token else "")
        ).get_json()
        page += [e["seq"] for e in body["events"]]
        token = body["next_page_token"]
        if not token:
            break
    assert page == everything


def test_time_range(app, history):
    rows = ledger(app)
    middle = rows[len(rows) // 2]
    moment = format_time(middle.at)
    since = history.get(f"/api/v1/audit?since={moment}&max_results=1000").get_json()["events"]
    assert since[0]["seq"] <= middle.seq
    assert all(e["at"] >= format_time(middle.at) for e in since)
    until = history.get(f"/api/v1/audit?until={moment}&max_results=1000").get_json()["events"]
    assert all(e["seq"] < since[0]["seq"] or e["at"] < since[0]["at"] for e in until)
    assert len(since) + len(until) == len(rows)
    history.get("/api/v1/audit?since=2030-01-01T00:00:00Z", expect=200)
    bad = history.get(
        "/api/v1/audit?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z", expect=400
    )
    assert error_code(bad) == "INVALID_ARGUMENT"


def test_export_ndjson_and_csv(history):
    ndjson = history.get("/api/v1/audit/export?format=ndjson&model=fraud")
    assert ndjson.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in ndjson.get_data(as_text=True).splitlines()]
    assert lines == history.get("/api/v1/audit?model=fraud&max_results=1000").get_json()["events"]
    table = list(
        csv.DictReader(
            io.StringIO(
                history.get("/api/v1/audit/export?format=csv&model=fraud").get_data(as_text=True)
            )
        )
    )
    assert [int(r["seq"]) for r in table] == [e["seq"] for e in lines]
    assert json.loads(table[0]["data"]) == lines[0]["data"]
    assert (
        error_code(history.get("/api/v1/audit/export?format=xml", expect=422)) == "INVALID_ARGUMENT"
    )


FORMULA = '=HYPERLINK("evil.example","click")'


def test_a_csv_export_never_hands_a_spreadsheet_a_formula(registry):
    """A model named like a formula (or any cell starting =, +, -, @, tab or CR) is exported
    as text in CSV, with a leading quote; NDJSON keeps every value exactly."""
    registry.create_model(FORMULA)
    registry.create_model("+1+1")
    registry.post(
        "/api/v1/models",
        {"name": "-2+3"},
        headers={"X-Request-ID": "-2+3"},
        expect=201,
    )
    table = list(
        csv.DictReader(
            io.StringIO(registry.get("/api/v1/audit/export?format=csv").get_data(as_text=True))
        )
    )
    cells = [value for row in table for value in row.values()]
    assert not [c for c in cells if c and c[0] in "=+-@\t\r"], cells
    assert [r["model"] for r in table if r["event"] == "model.created"] == [
        "'" + FORMULA,
        "'+1+1",
        "'-2+3",
    ]
    ndjson = [
        json.loads(line)
        for line in registry.get("/api/v1/audit/export?format=ndjson")
        .get_data(as_text=True)
        .splitlines()
    ]
    assert [e["model"] for e in ndjson if e["event"] == "model.created"] == [
        FORMULA,
        "+1+1",
        "-2+3",
    ]


def test_export_of_100k_events_runs_in_constant_memory(app, registry):
    with app.app_context():  # seeded directly: the export reads, it does not verify
        rows = [
            {
                "seq": n,
                "at": utcnow(),
                "actor": "user:bulk",
                "actor_kind": "user",
                "event": "model.tag_set",
                "model": "bulk",
                "version": None,
                "data": {"key": "k", "value": "v" * 100, "n": n},
                "request_id": None,
                "prev_hash": "0" * 64,
                "hash": "0" * 64,
            }
            for n in range(10_001, 110_001)
        ]
        db.session.execute(sa.insert(AuditEvent), rows)
        db.session.commit()
        del rows
    # Traced from the request through the first 20,000 events (tracing all 100k would take
    # minutes): an export that gathered its rows first, or held on to what it sent, would
    # show tens of megabytes here.
    tracemalloc.start()
    response = registry.client.get(
        "/api/v1/audit/export?model=bulk",
        headers={"Authorization": f"Bearer {registry.token}"},
        buffered=False,
    )
    size = count = 0
    peak = None
    for chunk in response.response:
        size += len(chunk)
        count += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
        if peak is None and count >= 20_000:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    response.close()
    assert count == 100_000
    assert size > 40_000_000
    assert peak < 4_000_000, f"peak {peak} bytes over 20,000 of {count} events ({size} bytes)"


# --------------------------------------------------------------------------- verification


def test_verify_an_intact_chain(history, as_role):
    result = as_role("auditor").get("/api/v1/audit/verify").get_json()
    assert result["ok"] is True
    assert result["first_bad_seq"] is None
    assert result["events_checked"] > 5


def tamper(app, statement, **params):
    with app.app_context(), db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # the trigger refuses: bypass it deliberately
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(sa.text(statement), params)


@pytest.mark.parametrize(
    ("statement", "bad"),
    [
        ('UPDATE audit_events SET data = \'{"description": "forged"}\' WHERE seq = 4', 4),
        ("UPDATE audit_events SET actor = 'user:mallory' WHERE seq = 6", 6),
        ("DELETE FROM audit_events WHERE seq = 5", 5),
        ("UPDATE audit_events SET at = at - interval '1 minute' WHERE seq = 3", 3),
    ],
)
def test_verify_finds_the_first_tampered_event(app, committed, backend, history, statement, bad):
    if backend == "sqlite":
        statement = statement.replace("at - interval '1 minute'", "datetime(at, '-1 minute')")
    tamper(app, statement)
    result = history.get("/api/v1/audit/verify").get_json()
    assert (result["ok"], result["first_bad_seq"]) == (False, bad), result


def test_verify_finds_reordered_and_truncated_chains(app, committed, backend, history):
    rows = ledger(app)
    a, b = rows[2], rows[3]
    swap = (
        "UPDATE audit_events SET event = :event, data = :data, hash = :hash, "
        "prev_hash = :prev WHERE seq = :seq"
    )
    tamper(
        app, swap, event=b.event, data=json.dumps(b.data), hash=b.hash, prev=b.prev_hash, seq=a.seq
    )
    tamper(
        app, swap, event=a.event, data=json.dumps(a.data), hash=a.hash, prev=a.prev_hash, seq=b.seq
    )
    assert history.get("/api/v1/audit/verify").get_json()["first_bad_seq"] == a.seq


def test_verify_finds_a_truncated_tail(app, committed, history):
    last = ledger(app)[-1].seq
    tamper(app, "DELETE FROM audit_events WHERE seq = :seq", seq=last)
    result = history.get("/api/v1/audit/verify").get_json()
    assert (result["ok"], result["first_bad_seq"]) == (False, last)
    assert "chain head" in result["problem"]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events"],
)
def test_postgres_refuses_to_edit_the_ledger(postgres_app, statement):
    """The trigger exists on PostgreSQL only; SQLite relies on the hash chain alone."""
    with postgres_app.app_context():
        with db.engine.begin() as conn:  # a real event to protect
            conn.exec_driver_sql(
                "INSERT INTO audit_events (seq, at, actor, actor_kind, event, data, prev_hash, "
                "hash) VALUES (999999, now(), 'user:x', 'user', 'probe', '{}', '', '')"
            )
        try:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
                conn.exec_driver_sql(statement)
        finally:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                conn.exec_driver_sql("DELETE FROM audit_events WHERE seq = 999999")


# --------------------------------------------------------------------------- stage history


def test_stage_history_at_a_moment(app, client, registry, use_policies, as_role):
    use_policies(DEFAULT_POLICIES)
    alice = as_role("contributor", name="alice")
    carol, erin = as_role("approver", name="carol"), as_role("approver", name="erin")
    registry.create_model("fraud")
    for _ in range(2):
        registry.create_version("fraud")
    registry.transition("fraud", 1, "Staging")
    registry.transition("fraud", 2, "Staging")
    first = alice.transition("fraud", 1, "Production")
    carol.post(f"/api/v1/transition-requests/{first['id']}/approve", {}, expect=200)
    erin.post(f"/api/v1/transition-requests/{first['id']}/approve", {}, expect=200)
    after_first = ledger(app)[-1].at
    second = alice.transition("fraud", 2, "Production")
    carol.post(f"/api/v1/transition-requests/{second['id']}/approve", {}, expect=200)
    erin.post(f"/api/v1/transition-requests/{second['id']}/approve", {}, expect=200)
    after_second = ledger(app)[-1].at
    # A serving model is not renamed: retire version 2 (two people) first.
    retire = alice.transition("fraud", 2, "Archived")
    carol.post(f"/api/v1/transition-requests/{retire['id']}/approve", {}, expect=200)
    registry.patch("/api/v1/models/fraud", {"new_name": "fraud-v2"})

    moment = format_time(after_first)
    then = registry.get(f"/api/v1/models/fraud-v2/stage-history?at={moment}").get_json()
    [holder] = then["stages"]["Production"]
    assert holder["version"] == 1
    assert holder["request_id"] == first["id"]
    assert holder["requested_by"] == "service:alice"
    assert sorted(holder["approved_by"]) == ["service:carol", "service:erin"]
    assert then["stages"]["Staging"][0]["version"] == 2
    later = format_time(after_second)
    then = registry.get(f"/api/v1/models/fraud-v2/stage-history?at={later}").get_json()
    assert [h["version"] for h in then["stages"]["Production"]] == [2]
    assert then["stages"]["Staging"] == []
    now = registry.get("/api/v1/models/fraud-v2/stage-history").get_json()
    assert now["stages"]["Production"] == []
    assert error_code(registry.get("/api/v1/models/ghost/stage-history", expect=404)) == "NOT_FOUND"


def test_a_changed_policy_set_is_recorded_once(app):
    from registry.domain import policy_files

    with app.app_context():
        policies = policy_files.load(DEFAULT_POLICIES)
        assert audit.record_policies_if_changed(db.session, policies) is True
        db.session.commit()
        assert audit.record_policies_if_changed(db.session, policies) is False
        db.session.commit()
        rows = (
            db.session.execute(sa.select(AuditEvent).where(AuditEvent.event == "policy.loaded"))
            .scalars()
            .all()
        )
    assert len(rows) == 1
    assert rows[0].data["digest"] == policies.digest
    assert rows[0].actor == system().id


def test_the_cli_verifies_and_exports(tmp_path):
    """modelgate audit verify / export, run by the operator against a database of its own."""
    import subprocess

    from registry.domain import registered_models, versions
    from tests.conftest import make_app
    from tests.helpers import MODELGATE

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"MODELGATE_DATABASE_URL": url, "MODELGATE_SECRET_KEY": "x", "PATH": "/usr/bin:/bin"}
    assert (
        subprocess.run(
            [MODELGATE, "db", "upgrade"], env=env, capture_output=True, timeout=60
        ).returncode
        == 0
    )
    app = make_app(url)
    with app.app_context():
        registered_models.create_model(db.session, system(), name="fraud")
        versions.create_version(db.session, system(), "fraud", source="s3://b/k")
        db.session.commit()
    verified = subprocess.run(
        [MODELGATE, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stderr
    assert "the chain is intact" in verified.stdout
    out = tmp_path / "audit.csv"
    exported = subprocess.run(
        [MODELGATE, "audit", "export", "--format", "csv", "-o", str(out), "--model", "fraud"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exported.returncode == 0, exported.stderr
    with out.open() as fh:
        exported_events = [row["event"] for row in csv.DictReader(fh)]
    assert exported_events == [
        "model.created",
        "model_version.created",
    ]
    tamper(app, "UPDATE audit_events SET actor = 'user:mallory' WHERE seq = 3")
    broken = subprocess.run(
        [MODELGATE, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert broken.returncode == 1
    assert "BROKEN at seq 3" in broken.stderr


# --------------------------------------------------------------------------- cross-checks


def test_verify_reports_the_head(history):
    result = history.get("/api/v1/audit/verify").get_json()
    newest = history.get("/api/v1/audit?max_results=1000").get_json()["events"][-1]
    assert (result["head_seq"], result["head_hash"]) == (newest["seq"], newest["hash"])
    assert result["problems"] == []


def test_verify_finds_nothing_wrong_in_a_real_history(history, use_policies, as_role):
    """Renames, deletions, re-creations, archiving and governed requests all replay to
    exactly the registry's state: no false alarm."""
    history.transition("fraud", 2, "Archived")  # a model that serves is not renamed
    history.patch("/api/v1/models/fraud", {"new_name": "fraud-v2"})
    use_policies(DEFAULT_POLICIES)
    carol, erin = as_role("approver", name="carol"), as_role("approver", name="erin")
    history.transition("fraud-v2", 3, "Staging")
    pending = as_role("contributor", name="alice").transition("fraud-v2", 3, "Production")
    carol.post(f"/api/v1/transition-requests/{pending['id']}/approve", {}, expect=200)
    erin.post(f"/api/v1/transition-requests/{pending['id']}/approve", {}, expect=200)
    history.delete("/api/v1/models/churn/versions/1", expect=204)
    history.delete("/api/v1/models/churn", expect=204)
    history.create_model("churn")
    history.create_version("churn")
    result = history.get("/api/v1/audit/verify").get_json()
    assert result["ok"] is True, result["problems"]


def _pending_production_request(history, use_policies, as_role):
    use_policies(DEFAULT_POLICIES)
    history.transition("fraud", 3, "Staging")
    request = as_role("contributor", name="alice").transition("fraud", 3, "Production")
    as_role("approver", name="carol").post(
        f"/api/v1/transition-requests/{request['id']}/approve", {}, expect=200
    )
    return request


def _kinds(result):
    return {p["kind"] for p in result["problems"]}


def test_verify_finds_an_approval_written_behind_the_ledgers_back(
    app, committed, history, use_policies, as_role
):
    request = _pending_production_request(history, use_policies, as_role)
    tamper(
        app,
        "INSERT INTO approvals (request_id, by, person, at) "
        "VALUES (:id, 'user:mallory', 'user:mallory', :at)",
        id=request["id"],
        at=utcnow(),
    )
    result = history.get("/api/v1/audit/verify").get_json()
    assert result["ok"] is False
    assert result["first_bad_seq"] is None  # the chain itself is intact
    [problem] = result["problems"]
    assert problem["kind"] == "approval_not_in_ledger"
    assert problem["request_id"] == request["id"]
    assert "user:mallory" in problem["message"]


def test_verify_finds_a_stage_set_by_hand(app, committed, history):
    tamper(
        app,
        "UPDATE model_versions SET stage = 'Production' WHERE version = 3 AND model_id = "
        "(SELECT id FROM registered_models WHERE name = 'fraud')",
    )
    result = history.get("/api/v1/audit/verify").get_json()
    assert result["ok"] is False
    [problem] = result["problems"]
    assert (problem["kind"], problem["model"], problem["version"]) == ("stage_mismatch", "fraud", 3)
    assert "is in Production" in problem["message"]
    assert "says None" in problem["message"]


def test_verify_finds_a_request_applied_by_hand(app, committed, history, use_policies, as_role):
    """One approval of two, then the request marked applied and the version moved in the
    tables: the ledger never saw the application, nor enough approvals."""
    request = _pending_production_request(history, use_policies, as_role)
    tamper(app, "UPDATE transition_requests SET state = 'applied' WHERE id = :id", id=request["id"])
    tamper(
        app,
        "UPDATE model_versions SET stage = 'Production' WHERE version = 3 AND model_id = "
        "(SELECT id FROM registered_models WHERE name = 'fraud')",
    )
    result = history.get("/api/v1/audit/verify").get_json()
    assert result["ok"] is False
    assert _kinds(result) == {"applied_not_in_ledger", "stage_mismatch"}


def test_verify_finds_an_approval_removed_from_the_tables(
    app, committed, history, use_policies, as_role
):
    request = _pending_production_request(history, use_policies, as_role)
    tamper(app, "DELETE FROM approvals WHERE request_id = :id", id=request["id"])
    result = history.get("/api/v1/audit/verify").get_json()
    assert _kinds(result) == {"approval_missing"}


def test_the_cli_reports_mismatches_and_exits_1(app, committed, history):
    """`modelgate audit verify` reads the same database and says what disagrees."""
    import subprocess

    from tests.helpers import MODELGATE, clean_env

    tamper(
        app,
        "UPDATE model_versions SET stage = 'Staging' WHERE version = 3 AND model_id = "
        "(SELECT id FROM registered_models WHERE name = 'fraud')",
    )
    result = subprocess.run(  # noqa: S603 - our own CLI
        [MODELGATE, "audit", "verify"],
        env=clean_env(MODELGATE_DATABASE_URL=app.config["DATABASE_URL"], MODELGATE_SECRET_KEY="x"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISMATCH (stage_mismatch)" in result.stderr
    assert "head seq" in result.stdout
