"""MLflow's model-version endpoints: create, get, update, delete, search, download URI, tags,
and transition-stage (on the blueprint of :mod:`registry.mlflow.blueprint`).
"""

from __future__ import annotations

from flask import Response

from registry.api.http import answer, page_tokens, policies
from registry.domain import deletion, manifests, search, transitions, versions
from registry.domain.permissions import Action
from registry.extensions import db
from registry.mlflow import entities, filters
from registry.mlflow.blueprint import blp, paged, requires_action, version_body
from registry.mlflow.fields import Fields
from registry.web.auth import current_principal

# What `max_results` means when a search leaves it out: the client's own default for versions
# (it always sends one); the domain's page size for models.
VERSIONS_PAGE = 10_000


@blp.post("/model-versions/create")
@requires_action(Action.WRITE)
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
    return answer(version_body(info))


@blp.get("/model-versions/get")
@requires_action(Action.READ)
def get_model_version() -> Response:
    fields = Fields()
    info = versions.get_version(
        db.session, current_principal(), fields.required("name"), fields.version()
    )
    return answer(version_body(info))


@blp.patch("/model-versions/update")
@requires_action(Action.WRITE)
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
    return answer(version_body(info))


@blp.delete("/model-versions/delete")
@requires_action(Action.MANAGE)
def delete_model_version() -> Response:
    fields = Fields()
    deletion.delete_version(
        db.session, current_principal(), fields.required("name"), fields.version()
    )
    db.session.commit()
    return answer({})


@blp.get("/model-versions/search")
@requires_action(Action.READ)
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
    return paged(
        {},
        "model_versions",
        [entities.model_version(v) for v in page.items],
        tokens.encode("mlflow.versions", page.next_cursor, listing),
    )


@blp.get("/model-versions/get-download-uri")
@requires_action(Action.READ)
def get_model_version_download_uri() -> Response:
    fields = Fields()
    info = versions.get_version(
        db.session, current_principal(), fields.required("name"), fields.version()
    )
    # Modelgate never copies or reads a model's files: they are where the source says.
    return answer({"artifact_uri": info.source})


@blp.post("/model-versions/transition-stage")
@requires_action(Action.REQUEST_TRANSITION)
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
    return answer(version_body(info))


@blp.post("/model-versions/set-tag")
@requires_action(Action.WRITE)
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
@requires_action(Action.WRITE)
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
