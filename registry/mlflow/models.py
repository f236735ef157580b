"""MLflow's model-registry endpoints: registered models and model versions.

Each view reads MLflow's fields, calls the domain function the native API calls for the same
thing (so permissions, validation, audit events and webhooks are the same), commits once and
answers 200 with MLflow's message. The few places where MLflow's semantics differ from the
native API's are chosen here, each where it happens: deleting a tag or alias that is not there
changes nothing; an unknown alias is INVALID_PARAMETER_VALUE; and transition-stage applies only
a move the policy in force lets this caller make at once (PERMISSION_DENIED naming the policy
otherwise, pointing to the transition-request endpoints).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from registry.api.http import answer, page_tokens, policies
from registry.domain import (
    deletion,
    manifests,
    readmodels,
    registered_models,
    resolve,
    search,
    transitions,
    versions,
)
from registry.domain.errors import InvalidArgument, NotFound
from registry.domain.permissions import Action
from registry.domain.readmodels import ModelInfo
from registry.domain.stages import Stage
from registry.extensions import db
from registry.mlflow import entities, errors, filters
from registry.mlflow.fields import Fields
from registry.web.auth import current_principal, public, requires

blp = Blueprint("mlflow", __name__)
errors.register(blp)

# What `max_results` means when a search leaves it out: the client's own default for versions
# (it always sends one); the domain's page size for models.
VERSIONS_PAGE = 10_000


def _requires(action: Action) -> Any:
    # MLflow clients may send the token as a Basic password (MLFLOW_TRACKING_PASSWORD).
    return requires(action, basic_auth=True)


def _model(info: ModelInfo) -> dict[str, Any]:
    latest = readmodels.latest_versions(db.session, [info.name])[info.name]
    return {"registered_model": entities.registered_model(info, latest)}


def _version(info: readmodels.VersionInfo) -> dict[str, Any]:
    return {"model_version": entities.model_version(info)}


def _page(body: dict[str, Any], key: str, items: list[Any], next_token: str | None) -> Response:
    # Protobuf's JSON leaves out empty lists and unset strings; the client reads both as empty.
    if items:
        body[key] = items
    if next_token:
        body["next_page_token"] = next_token
    return answer(body)


# --------------------------------------------------------------------------- registered models


@blp.post("/registered-models/create")
@_requires(Action.CREATE_MODEL)
def create_registered_model() -> Response:
    fields = Fields()
    info = registered_models.create_model(
        db.session,
        current_principal(),
        name=fields.required("name"),
        description=fields.string("description"),
        tags=fields.tags(),
    )
    db.session.commit()
    return answer(_model(info))


@blp.get("/registered-models/get")
@_requires(Action.READ)
def get_registered_model() -> Response:
    name = Fields().required("name")
    return answer(_model(registered_models.get_model(db.session, current_principal(), name)))


@blp.post("/registered-models/rename")
@_requires(Action.MANAGE)
def rename_registered_model() -> Response:
    fields = Fields()
    info = registered_models.rename_model(
        db.session, current_principal(), fields.required("name"), fields.required("new_name")
    )
    db.session.commit()
    return answer(_model(info))


@blp.patch("/registered-models/update")
@_requires(Action.WRITE)
def update_registered_model() -> Response:
    fields = Fields()
    # As on MLflow's server, leaving the description out clears it.
    info = registered_models.update_model(
        db.session,
        current_principal(),
        fields.required("name"),
        description=fields.string("description"),
    )
    db.session.commit()
    return answer(_model(info))


@blp.delete("/registered-models/delete")
@_requires(Action.MANAGE)
def delete_registered_model() -> Response:
    deletion.delete_model(db.session, current_principal(), Fields().required("name"))
    db.session.commit()
    return answer({})


@blp.get("/registered-models/search")
@_requires(Action.READ)
def search_registered_models() -> Response:
    fields = Fields()
    text, order_by = fields.string("filter"), fields.strings("order_by")
    listing = {"filter": text or "", "order_by": order_by or []}
    tokens = page_tokens()
    page = search.search_models(
        db.session,
        current_principal(),
        filters.parse(filters.MODELS, text, order_by),
        max_results=fields.integer("max_results"),
        after=tokens.decode("mlflow.models", fields.string("page_token"), listing),
    )
    latest = readmodels.latest_versions(db.session, [m.name for m in page.items])
    return _page(
        {},
        "registered_models",
        [entities.registered_model(m, latest[m.name]) for m in page.items],
        tokens.encode("mlflow.models", page.next_cursor, listing),
    )


@blp.route("/registered-models/get-latest-versions", methods=["GET", "POST"])
@_requires(Action.READ)
def get_latest_versions() -> Response:
    fields = Fields()
    stages = fields.strings("stages")
    found = versions.latest_versions(
        db.session,
        current_principal(),
        fields.required("name"),
        [Stage.parse(s) for s in stages] if stages else None,
    )
    return _page({}, "model_versions", [entities.model_version(v) for v in found], None)


@blp.post("/registered-models/set-tag")
@_requires(Action.WRITE)
def set_registered_model_tag() -> Response:
    fields = Fields()
    registered_models.set_model_tag(
        db.session,
        current_principal(),
        fields.required("name"),
        fields.required("key"),
        fields.required("value"),
    )
    db.session.commit()
    return answer({})


@blp.delete("/registered-models/delete-tag")
@_requires(Action.WRITE)
def delete_registered_model_tag() -> Response:
    fields = Fields()
    registered_models.delete_model_tag(
        db.session,
        current_principal(),
        fields.required("name"),
        fields.required("key"),
        missing_ok=True,
    )
    db.session.commit()
    return answer({})


@blp.post("/registered-models/alias")
@_requires(Action.WRITE)
def set_registered_model_alias() -> Response:
    fields = Fields()
    registered_models.set_alias(
        db.session,
        current_principal(),
        fields.required("name"),
        fields.required("alias"),
        fields.version(),
        policies=policies(),
    )
    db.session.commit()
    return answer({})


@blp.delete("/registered-models/alias")
@_requires(Action.WRITE)
def delete_registered_model_alias() -> Response:
    fields = Fields()
    registered_models.delete_alias(
        db.session,
        current_principal(),
        fields.required("name"),
        fields.required("alias"),
        policies=policies(),
        missing_ok=True,
    )
    db.session.commit()
    return answer({})


@blp.get("/registered-models/alias")
@_requires(Action.READ)
def get_model_version_by_alias() -> Response:
    fields = Fields()
    try:
        info = resolve.version_by_alias(
            db.session, current_principal(), fields.required("name"), fields.required("alias")
        )
    except NotFound as exc:
        # MLflow answers an unknown alias of a known model as a bad parameter, not a 404.
        if exc.details.get("missing") == "alias":
            raise InvalidArgument(exc.message, field="alias") from None
        raise
    return answer(_version(info))


# --------------------------------------------------------------------------- model versions


@blp.post("/model-versions/create")
@_requires(Action.WRITE)
def create_model_version() -> Response:
    fields = Fields()
    tags = fields.tags()
    # MLflow's create call has no digest field: a client gives one as the tag under which
    # Modelgate shows it (a tag nobody may set as such).
    digest = tags.pop(manifests.DIGEST_TAG, None) if isinstance(tags, dict) else None
    info = versions.create_version(
        db.session,
        current_principal(),
        fields.required("name"),
        source=fields.required("source"),
        run_id=fields.string("run_id"),
        run_link=fields.string("run_link"),
        description=fields.string("description"),
        tags=tags,
        digest=digest,
    )
    db.session.commit()
    return answer(_version(info))


@blp.get("/model-versions/get")
@_requires(Action.READ)
def get_model_version() -> Response:
    fields = Fields()
    info = versions.get_version(
        db.session, current_principal(), fields.required("name"), fields.version()
    )
    return answer(_version(info))


@blp.patch("/model-versions/update")
@_requires(Action.WRITE)
def update_model_version() -> Response:
    fields = Fields()
    info = versions.update_version(
        db.session,
        current_principal(),
        fields.required("name"),
        fields.version(),
        description=fields.string("description"),
    )
    db.session.commit()
    return answer(_version(info))


@blp.delete("/model-versions/delete")
@_requires(Action.MANAGE)
def delete_model_version() -> Response:
    fields = Fields()
    deletion.delete_version(
        db.session, current_principal(), fields.required("name"), fields.version()
    )
    db.session.commit()
    return answer({})


@blp.get("/model-versions/search")
@_requires(Action.READ)
def search_model_versions() -> Response:
    fields = Fields()
    text, order_by = fields.string("filter"), fields.strings("order_by")
    max_results = fields.integer("max_results")
    listing = {"filter": text or "", "order_by": order_by or []}
    tokens = page_tokens()
    page = search.search_versions(
        db.session,
        current_principal(),
        filters.parse(filters.VERSIONS, text, order_by),
        max_results=VERSIONS_PAGE if max_results is None else max_results,
        after=tokens.decode("mlflow.versions", fields.string("page_token"), listing),
    )
    return _page(
        {},
        "model_versions",
        [entities.model_version(v) for v in page.items],
        tokens.encode("mlflow.versions", page.next_cursor, listing),
    )


@blp.get("/model-versions/get-download-uri")
@_requires(Action.READ)
def get_model_version_download_uri() -> Response:
    fields = Fields()
    info = versions.get_version(
        db.session, current_principal(), fields.required("name"), fields.version()
    )
    # Modelgate never copies or reads a model's files: they are where the source says.
    return answer({"artifact_uri": info.source})


@blp.post("/model-versions/transition-stage")
@_requires(Action.REQUEST_TRANSITION)
def transition_model_version_stage() -> Response:
    fields = Fields()
    name, version = fields.required("name"), fields.version()
    principal = current_principal()
    transitions.request_transition(
        db.session,
        principal,
        policies(),
        name,
        version,
        to_stage=fields.required("stage"),
        # MLflow's default is false (and its client always sends the flag).
        archive_existing_versions=bool(fields.boolean("archive_existing_versions")),
        require_immediate=True,
    )
    info = versions.get_version(db.session, principal, name, version)
    db.session.commit()
    return answer(_version(info))


@blp.post("/model-versions/set-tag")
@_requires(Action.WRITE)
def set_model_version_tag() -> Response:
    fields = Fields()
    versions.set_version_tag(
        db.session,
        current_principal(),
        fields.required("name"),
        fields.version(),
        fields.required("key"),
        fields.required("value"),
    )
    db.session.commit()
    return answer({})


@blp.delete("/model-versions/delete-tag")
@_requires(Action.WRITE)
def delete_model_version_tag() -> Response:
    fields = Fields()
    versions.delete_version_tag(
        db.session,
        current_principal(),
        fields.required("name"),
        fields.version(),
        fields.required("key"),
        missing_ok=True,
    )
    db.session.commit()
    return answer({})


# --------------------------------------------------------------------------- the rest


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
