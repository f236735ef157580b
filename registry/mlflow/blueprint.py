"""MLflow's model-registry blueprint (``mlflow``): what its views share, and the answer to any
call it does not serve.

The views are in :mod:`registry.mlflow.models` (registered models) and
:mod:`registry.mlflow.versions` (model versions).

Each view reads MLflow's fields, calls the domain function the native API calls for the same
thing (so permissions, validation, audit events and webhooks are the same), commits once and
answers 200 with MLflow's message. The few places where MLflow's semantics differ from the
native API's are chosen in the views, each where it happens: deleting a tag or alias that is
not there changes nothing; an unknown alias is INVALID_PARAMETER_VALUE; and transition-stage
applies only a move the policy in force lets this caller make at once (PERMISSION_DENIED
naming the policy otherwise, pointing to the transition-request endpoints).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from registry.api.http import answer
from registry.domain import readmodels
from registry.domain.permissions import Action
from registry.domain.readmodels import ModelInfo
from registry.extensions import db
from registry.mlflow import entities, errors
from registry.web.auth import public, requires

blp = Blueprint("mlflow", __name__)
errors.register(blp)


def requires_action(action: Action) -> Any:
    # MLflow clients may send the token as a Basic password (MLFLOW_TRACKING_PASSWORD).
    return requires(action, basic_auth=True)


def model_body(info: ModelInfo) -> dict[str, Any]:
    latest = readmodels.latest_versions(db.session, [info.name])[info.name]
    return {"registered_model": entities.registered_model(info, latest)}


def version_body(info: readmodels.VersionInfo) -> dict[str, Any]:
    return {"model_version": entities.model_version(info)}


def paged(body: dict[str, Any], key: str, items: list[Any], next_token: str | None) -> Response:
    # Protobuf's JSON leaves out empty lists and unset strings; the client reads both as empty.
    if items:
        body[key] = items
    if next_token:
        body["next_page_token"] = next_token
    return answer(body)


@blp.route("/<path:endpoint>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@public
def unknown_endpoint(endpoint: str) -> Response:
    """Anything else under the prefix (tracking calls, a method a route does not take): the
    JSON ENDPOINT_NOT_FOUND the client understands (it falls back from POST to GET on it)."""
    return errors.mlflow_response(
        "ENDPOINT_NOT_FOUND",
        f"Modelgate serves MLflow's model registry only; there is no {request.method} "
        f"{endpoint} here.",
    )
