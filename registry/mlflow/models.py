"""MLflow's registered-model endpoints: create, get, rename, update, delete, search, latest
versions, tags and aliases (on the blueprint of :mod:`registry.mlflow.blueprint`).
"""

from __future__ import annotations

from flask import Response

from registry.api.http import answer, page_tokens, policies
from registry.domain import deletion, readmodels, registered_models, resolve, search, versions
from registry.domain.errors import InvalidArgument, NotFound
from registry.domain.permissions import Action
from registry.domain.stages import Stage
from registry.extensions import db
from registry.mlflow import entities, filters
from registry.mlflow.blueprint import blp, model_body, paged, requires_action, version_body
from registry.mlflow.fields import Fields
from registry.web.auth import current_principal


@blp.post("/registered-models/create")
@requires_action(Action.CREATE_MODEL)
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
    return answer(model_body(info))


@blp.get("/registered-models/get")
@requires_action(Action.READ)
def get_registered_model() -> Response:
    name = Fields().required("name")
    return answer(model_body(registered_models.get_model(db.session, current_principal(), name)))


@blp.post("/registered-models/rename")
@requires_action(Action.MANAGE)
def rename_registered_model() -> Response:
    fields = Fields()
    info = registered_models.rename_model(
        db.session, current_principal(), fields.required("name"), fields.required("new_name")
    )
    db.session.commit()
    return answer(model_body(info))


@blp.patch("/registered-models/update")
@requires_action(Action.WRITE)
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
    return answer(model_body(info))


@blp.delete("/registered-models/delete")
@requires_action(Action.MANAGE)
def delete_registered_model() -> Response:
    deletion.delete_model(db.session, current_principal(), Fields().required("name"))
    db.session.commit()
    return answer({})


@blp.get("/registered-models/search")
@requires_action(Action.READ)
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
    return paged(
        {},
        "registered_models",
        [entities.registered_model(m, latest[m.name]) for m in page.items],
        tokens.encode("mlflow.models", page.next_cursor, listing),
    )


@blp.route("/registered-models/get-latest-versions", methods=["GET", "POST"])
@requires_action(Action.READ)
def get_latest_versions() -> Response:
    fields = Fields()
    stages = fields.strings("stages")
    found = versions.latest_versions(
        db.session,
        current_principal(),
        fields.required("name"),
        [Stage.parse(s) for s in stages] if stages else None,
    )
    return paged({}, "model_versions", [entities.model_version(v) for v in found], None)


@blp.post("/registered-models/set-tag")
@requires_action(Action.WRITE)
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
@requires_action(Action.WRITE)
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
@requires_action(Action.WRITE)
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
@requires_action(Action.WRITE)
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
@requires_action(Action.READ)
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
    return answer(version_body(info))
