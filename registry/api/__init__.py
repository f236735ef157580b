"""The native HTTP API (/api/v1) and operational routes; one Blueprint per resource."""

from __future__ import annotations

from flask import Flask

from registry.api import (
    audit,
    comments,
    health,
    identity,
    policies,
    registered_models,
    resolve,
    transitions,
    versions,
    webhooks,
)
from registry.api.http import RowIdConverter, refuse_control_characters
from registry.domain.validation import MAX_ROW_ID
from registry.extensions import ModelgateApi


def init_app(app: Flask) -> ModelgateApi:
    app.url_map.converters["id"] = RowIdConverter
    app.before_request(refuse_control_characters)
    api = ModelgateApi(
        app,
        spec_kwargs={
            "info": {
                "description": "The native Modelgate API. Every error has the shape of "
                "ErrorOut; see the README for the error codes."
            },
        },
    )
    api.register_converter(
        RowIdConverter,
        lambda _: {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ROW_ID},
    )
    api.spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "A Modelgate API token or an OIDC access token.",
        },
    )
    for module in (
        registered_models,
        versions,
        transitions,
        comments,
        policies,
        resolve,
        identity,
        audit,
        webhooks,
    ):
        api.register_blueprint(module.blp)
    app.register_blueprint(health.blp)
    return api
