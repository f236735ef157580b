"""The MLflow-compatible surface: MLflow's model-registry REST API over Modelgate's domain.

Served under ``/api/2.0/mlflow/`` (and ``/ajax-api/2.0/mlflow/``, where MLflow's web UI looks)
so that ``MlflowClient`` and ``mlflow.pyfunc.load_model("models:/NAME/Production")`` use
Modelgate as their registry unchanged; plus Databricks' transition-request and comment calls,
the mlflow-artifacts endpoints over Modelgate's own artifact store, and the server-info probe.
These are plain Flask blueprints, not part of the native OpenAPI document: their contract is
MLflow's (docs: shared reference mlflow-registry-protocol.md).
"""

from __future__ import annotations

from flask import Flask

from registry.mlflow import artifacts, blueprint, governance, models, versions

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
# The registry's views: each module adds its routes to blueprint.blp as it is imported.
VIEWS = (models, versions)


def init_app(app: Flask) -> None:
    for served in (governance.blp, blueprint.blp):
        for prefix in PREFIXES:
            name = served.name + ("_ajax" if prefix.startswith("/ajax") else "")
            app.register_blueprint(served, url_prefix=prefix, name=name)
    app.register_blueprint(artifacts.blp)
