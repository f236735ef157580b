"""The application factory: settings, then extensions, then routes, then error handling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, request

from registry import api, config, database, mlflow, ui
from registry.api.http import use_json_provider
from registry.config import secret_keys
from registry.delivery import outbox
from registry.domain import artifacts, checkpoints, on_commit, policy_files
from registry.extensions import db, migrate
from registry.web import (
    auth,
    errors,
    guessing,
    metrics,
    observability,
    ratelimit,
    refusals,
)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the service. ``overrides`` take setting names without the MODELGATE_ prefix.

    Raises config.ConfigError when a setting is missing or malformed and PolicyError (naming
    the file and line) when a policy file is invalid. Touches no database:
    migrations are run by ``modelgate db upgrade`` (or ``serve`` on the embedded default).
    """
    settings = config.load(overrides=overrides)
    loaded_policies = policy_files.load(settings["POLICY_PATH"])
    app = Flask("registry")
    app.extensions["modelgate.policies"] = loaded_policies
    app.extensions["modelgate.artifacts"] = artifacts.ArtifactStore(settings["ARTIFACT_ROOT"])
    app.extensions[checkpoints.EXTENSION] = checkpoints.keyring_from(settings)
    app.extensions[secret_keys.EXTENSION] = secret_keys.box(settings)
    app.config.update(settings)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings["DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS=database.engine_options(settings["DATABASE_URL"], settings),
        API_TITLE="Modelgate",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        JSON_SORT_KEYS=False,
    )
    use_json_provider(app)

    db.init_app(app)
    with app.app_context():
        database.configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(database.migrations_directory()))
    on_commit.install()

    observability.init_app(app)
    metrics.init_app(app)  # before auth, so refused requests are counted and timed too
    app.before_request(_mark_read_only)
    app.before_request(_bind_artifact_store)
    app.teardown_request(_clear_read_only)
    ratelimit.init_app(app)  # before auth: a flood is refused before tokens are looked up
    guessing.init_app(app)  # the client address behind proxies, and the failed-auth limit
    auth.init_app(app)
    refusals.init_app(app)
    app.extensions["modelgate.api"] = api.init_app(app)
    mlflow.init_app(app)
    outbox.init_app(app)
    metrics.register_collector(app, "webhooks", outbox.collect_figures)
    ui.init_app(app)
    errors.register(app)
    return app


def _mark_read_only() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        request.environ["modelgate.read_only"] = database.reads_only.set(True)


def _bind_artifact_store() -> None:
    """Stage changes re-check a version's files in the store; whichever surface asks
    (API, MLflow layer, console), the domain finds the store on the request's session."""
    artifacts.use_store(db.session, current_app.extensions["modelgate.artifacts"])


def _clear_read_only(_exc: BaseException | None) -> None:
    token = request.environ.pop("modelgate.read_only", None)
    if token is not None:
        database.reads_only.reset(token)
