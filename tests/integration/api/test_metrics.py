"""GET /metrics: the figures the issue asks for, the token that may guard them, and the hook
other modules add figures with. (Several gunicorn workers sharing one count: test_container.)"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from registry.extensions import db
from registry.web import metrics
from tests.conftest import DEFAULT_POLICIES, make_app


def scrape(client, **kwargs) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_and_timed_by_route_template_and_status(client, registry):
    registry.create_model("fraud")
    before = scrape(client)
    registry.get("/api/v1/models/fraud")
    registry.get("/api/v1/models/nope", expect=404)
    client.get("/no/such/route")
    after = scrape(client)

    route = "/api/v1/models/<string:name>"
    for status in ("200", "404"):
        labels = {"method": "GET", "route": route, "status": status}
        assert value(after, "modelgate_http_requests_total", **labels) == (
            value(before, "modelgate_http_requests_total", **labels) + 1
        )
        assert value(after, "modelgate_http_request_duration_seconds_count", **labels) == (
            value(before, "modelgate_http_request_duration_seconds_count", **labels) + 1
        )
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, "modelgate_http_requests_total", **unmatched) == (
        value(before, "modelgate_http_requests_total", **unmatched) + 1
    )
    # Route templates only: a model's name never becomes a label.
    assert not any("fraud" in str(labels) for _, labels in after)


def test_a_request_refused_before_its_view_is_counted_too(client):
    before = scrape(client)
    assert client.get("/api/v1/models").status_code == 401
    labels = {"method": "GET", "route": "/api/v1/models", "status": "401"}
    assert value(scrape(client), "modelgate_http_requests_total", **labels) == (
        value(before, "modelgate_http_requests_total", **labels) + 1
    )


def test_applied_transitions_are_counted_once_committed(client, registry, use_policies):
    applied = {"from_stage": "None", "to_stage": "Staging"}
    registry.create_model("fraud")
    registry.create_version("fraud")
    before = scrape(client)
    registry.transition("fraud", 1, "Staging")
    middle = scrape(client)
    assert value(middle, "modelgate_transitions_applied_total", **applied) == (
        value(before, "modelgate_transitions_applied_total", **applied) + 1
    )

    # Refused by policy: rolled back, so not counted.
    use_policies(DEFAULT_POLICIES)
    registry.create_version("fraud")
    registry.transition("fraud", 2, "Production", expect=422)
    refused = {"from_stage": "None", "to_stage": "Production"}
    assert value(scrape(client), "modelgate_transitions_applied_total", **refused) == value(
        middle, "modelgate_transitions_applied_total", **refused
    )


def test_pending_requests_are_read_from_the_database(client, registry, use_policies):
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud")
    registry.create_version("fraud")
    registry.transition("fraud", 1, "Staging")
    assert (
        value(scrape(client), "modelgate_transition_requests_pending", to_stage="Production") == 0
    )
    registry.transition("fraud", 1, "Production")
    samples = scrape(client)
    assert value(samples, "modelgate_transition_requests_pending", to_stage="Production") == 1
    assert value(samples, "modelgate_metrics_collector_up", collector="pending_requests") == 1


def test_registered_collectors_add_figures_and_a_broken_one_hides_only_its_own(app, client):
    def backlog(session):
        family = GaugeMetricFamily("modelgate_test_backlog", "A figure from the database.")
        family.add_metric([], session.execute(sa.select(sa.literal(7))).scalar_one())
        yield family

    def broken(session):
        raise RuntimeError("this figure cannot be read")
        yield  # pragma: no cover - makes it a generator, as collectors are

    metrics.register_collector(app, "test_backlog", backlog)
    metrics.register_collector(app, "test_broken", broken)
    try:
        samples = scrape(client)
    finally:
        collectors = app.extensions["modelgate.metrics"].collectors
        collectors.pop("test_backlog")
        collectors.pop("test_broken")
    assert value(samples, "modelgate_test_backlog") == 7
    assert value(samples, "modelgate_metrics_collector_up", collector="test_backlog") == 1
    assert value(samples, "modelgate_metrics_collector_up", collector="test_broken") == 0
    assert value(samples, "modelgate_metrics_collector_up", collector="pending_requests") == 1


@pytest.mark.postgres
def test_database_connections_in_use_and_the_pool_capacity(postgres_url):
    app = make_app(postgres_url, DB_POOL_SIZE=3, DB_MAX_OVERFLOW=2)
    client = app.test_client()
    try:
        idle = scrape(client)
        assert value(idle, "modelgate_db_pool_connections_max") >= 5
        with app.app_context(), db.engine.connect() as held:
            held.execute(sa.text("SELECT 1"))
            busy = scrape(client)
        assert value(busy, "modelgate_db_pool_connections_in_use") == (
            value(idle, "modelgate_db_pool_connections_in_use") + 1
        )
        assert value(scrape(client), "modelgate_db_pool_connections_in_use") == value(
            idle, "modelgate_db_pool_connections_in_use"
        )
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_metrics_token_guards_the_figures(tmp_path, sqlite_template):
    import shutil

    shutil.copy(sqlite_template, tmp_path / "m.db")
    client = make_app(f"sqlite:///{tmp_path / 'm.db'}", METRICS_TOKEN="scrape-me").test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.get_json()["error_code"] == "UNAUTHENTICATED"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, headers={"Authorization": "Bearer scrape-me"})
