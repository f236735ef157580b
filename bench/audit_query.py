"""How fast the audit ledger answers at a million events (PostgreSQL).

Seeds a fresh database with N events (default 1,000,000) forming a valid hash chain, spread
over 1,000 models and a realistic mix of event kinds, runs ANALYZE, then times the queries
an auditor makes, through the real HTTP API (Flask test client, so no network noise): the
first page, a page deep in the ledger, each filter, a time range, an export, and a full
verification. Prints a table of median times.

    .venv/bin/python bench/audit_query.py                       # 1,000,000 events
    .venv/bin/python bench/audit_query.py --events 100000 --keep

Needs PostgreSQL (MODELGATE_BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1/postgres;
a database named modelgate_bench_audit is created there and dropped unless --keep).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry import create_app  # noqa: E402
from registry.database import alembic_config  # noqa: E402
from registry.domain import identity, ledger  # noqa: E402
from registry.domain.principal import system  # noqa: E402
from registry.extensions import db  # noqa: E402
from registry.orm.audit import GENESIS_HASH  # noqa: E402

EVENTS = [
    "model_version.created",
    "model_version.tag_set",
    "transition_request.created",
    "transition_request.approved",
    "model_version.stage_changed",
    "transition_request.applied",
    "comment.created",
    "model.tag_set",
]
COLUMNS = (*ledger.HASHED_FIELDS, "hash")
ACTORS = [f"user:person{i}" for i in range(50)] + [f"service:pipeline{i}" for i in range(10)]


def seed(url: str, count: int) -> None:
    """Write a valid chain with COPY (the fastest way in), then point the head at its end."""
    engine = sa.create_engine(url)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(seconds=30)
    previous = GENESIS_HASH
    t0 = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        batch = io.StringIO()
        for seq in range(1, count + 1):
            fields = {
                "seq": seq,
                "at": start + seq * step,
                "actor": ACTORS[seq % len(ACTORS)],
                "actor_kind": "service" if seq % len(ACTORS) >= 50 else "user",
                "event": EVENTS[seq % len(EVENTS)],
                "model": f"model-{seq % 1000:04d}",
                "version": seq % 37 + 1,
                "data": {"request_id": seq // 3, "note": "bench"},
                "request_id": f"req-{seq}",
                "prev_hash": previous,
            }
            digest = ledger.event_hash(**fields)
            text = {
                **fields,
                "at": ledger.format_time(fields["at"]),
                "data": json.dumps(fields["data"]),
                "hash": digest,
            }
            batch.write("\t".join(str(text[c]) for c in COLUMNS) + "\n")
            previous = digest
            if seq % 50_000 == 0 or seq == count:
                batch.seek(0)
                cursor.copy_from(batch, "audit_events", columns=COLUMNS)
                batch = io.StringIO()
                print(f"  seeded {seq:,} events", file=sys.stderr)
        cursor.execute(
            "UPDATE audit_chain_head SET seq = %s, hash = %s, at = %s",
            (count, previous, start + count * step),
        )
        raw.commit()
        cursor.execute("ANALYZE")  # a fresh database's planner otherwise picks bad plans
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    print(f"seeded {count:,} events in {time.perf_counter() - t0:.1f}s", file=sys.stderr)


def timed(client, path: str, headers: dict[str, str], runs: int = 7) -> tuple[float, int]:
    samples, size = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(path, headers=headers)
        size = len(response.get_data())
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
    return statistics.median(samples), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    base = os.environ.get(
        "MODELGATE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/postgres"
    )
    admin_url = sa.engine.make_url(base).set(drivername="postgresql+psycopg2")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = "modelgate_bench_audit"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    cfg = alembic_config(url)
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
    seed(url, args.events)

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "AUTH_CACHE_SECONDS": 60})
    with app.app_context():
        token = identity.create_token(db.session, system(), name="auditor", roles=["auditor"]).token
        db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    deep = client.get("/api/v1/audit?max_results=100", headers=headers).get_json()
    # a token for a page 90% of the way in, made by paging from a seq bound
    since = ledger.format_time(
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + int(args.events * 0.9) * dt.timedelta(seconds=30)
    )
    deep = client.get(f"/api/v1/audit?max_results=100&since={since}", headers=headers).get_json()
    rows = [
        ("first page (100)", "/api/v1/audit?max_results=100"),
        (
            "page 90% deep (100)",
            f"/api/v1/audit?max_results=100&page_token={deep['next_page_token']}&since={since}",
        ),
        ("model filter", "/api/v1/audit?model=model-0421&max_results=100"),
        ("model + version", "/api/v1/audit?model=model-0421&version=7&max_results=100"),
        ("actor filter", "/api/v1/audit?actor=user:person7&max_results=100"),
        ("event family", "/api/v1/audit?event=transition_request.*&max_results=100"),
        (
            "one day (time range)",
            "/api/v1/audit?since=2026-03-01T00:00:00Z&until=2026-03-02T00:00:00Z&max_results=1000",
        ),
        ("model filter, export (NDJSON)", "/api/v1/audit/export?model=model-0421"),
    ]
    print(f"\nAudit ledger, {args.events:,} events, PostgreSQL, median of 7 runs")
    print(f"{'query':<34}{'ms':>10}{'bytes':>12}")
    for label, path in rows:
        ms, size = timed(client, path, headers)
        print(f"{label:<34}{ms:>10.1f}{size:>12,}")
    t0 = time.perf_counter()
    result = client.get("/api/v1/audit/verify", headers=headers).get_json()
    elapsed = time.perf_counter() - t0
    print(
        f"{'verify the whole chain':<34}{elapsed * 1000:>10.0f}  ok={result['ok']} "
        f"({result['events_checked'] / elapsed:,.0f} events/s)"
    )
    with app.app_context():
        db.engine.dispose()
    if not args.keep:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


if __name__ == "__main__":
    main()
