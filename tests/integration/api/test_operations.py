"""Health, readiness, the OpenAPI document, and the rule that every route declares a permission."""

from registry.web.auth import declared_permission


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "migrations": "ok"}


def test_openapi_document_lists_the_contract_paths(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in [
        "/api/v1/models",
        "/api/v1/models/{name}",
        "/api/v1/models/{name}/tags/{key}",
        "/api/v1/models/{name}/aliases/{alias}",
        "/api/v1/models/{name}/versions",
        "/api/v1/models/{name}/versions/{version}",
        "/api/v1/models/{name}/versions/{version}/tags/{key}",
        "/api/v1/models/{name}/versions/{version}/transitions",
        "/api/v1/resolve",
    ]:
        assert path in paths, path
    post = paths["/api/v1/models"]["post"]
    assert post["summary"] == "Register a model name"
    assert post["security"] == [{"bearerAuth": []}]
    assert post["x-permission"] == "create_model"
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_interactive_docs_page(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"swagger" in page.data.lower()


def test_every_route_declares_a_permission(app):
    missing = []
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"OPTIONS", "HEAD"}:
            if declared_permission(app, rule.endpoint, method) is None:
                missing.append(f"{method} {rule.rule}")
    assert missing == []


def test_every_documented_operation_declares_a_permission(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    undeclared = [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method in {"get", "post", "put", "patch", "delete"} and "x-permission" not in operation
    ]
    assert undeclared == []


def test_an_undeclared_route_is_refused_at_runtime(tmp_path):
    # A route added without @requires or @public must not be reachable.
    from tests.conftest import make_app

    fresh = make_app(f"sqlite:///{tmp_path / 'probe.db'}")
    fresh.add_url_rule("/__undeclared_probe", "undeclared_probe", lambda: "leaked")
    response = fresh.test_client().get("/__undeclared_probe")
    assert response.status_code == 403
    assert response.get_json()["error_code"] == "PERMISSION_DENIED"


def _set_revision(app, revision):
    import sqlalchemy as sa

    from registry.extensions import db

    with app.app_context():
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        db.session.commit()


def test_readyz_serves_on_a_schema_a_newer_release_migrated(app, client):
    # During a rolling upgrade the pre-upgrade job migrates before the old pods are gone.
    _set_revision(app, "9999_from_a_newer_release")
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "migrations": "ahead"}


def test_readyz_refuses_a_schema_behind_this_code(app, client):
    _set_revision(app, "0001")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["migrations"] == "behind"
