"""/api/v1/models: registered models, their tags and aliases."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from registry.api.http import Blueprint, answer, empty, if_match, page_tokens, policies, single
from registry.domain import deletion, registered_models
from registry.domain.errors import InvalidArgument
from registry.domain.permissions import Action
from registry.extensions import db
from registry.schemas.common import TagIn
from registry.schemas.registered_models import (
    AliasIn,
    ModelIn,
    ModelListArgs,
    ModelOut,
    ModelPage,
    ModelPatchIn,
    dump_model,
)
from registry.web.auth import current_principal, requires

blp = Blueprint(
    "models",
    __name__,
    url_prefix="/api/v1/models",
    description="Registered models, their tags and aliases.",
)

LISTING = "models"


def _tag_filters(raw: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"tag filter {item!r} must look like key=value.", field="tag")
        pairs.append((key, value))
    return pairs


@blp.route("")
class Models(MethodView):
    @requires(Action.READ)
    @blp.arguments(ModelListArgs, location="query")
    @blp.response(200, ModelPage)
    def get(self, args: dict[str, Any]) -> Response:
        """List registered models

        Sorted by name. Only models the caller may read are listed.
        """
        filters = {"filter": args.get("filter"), "tag": sorted(args.get("tag", []))}
        tokens = page_tokens()
        page = registered_models.list_models(
            db.session,
            current_principal(),
            name_glob=args.get("filter"),
            tags=_tag_filters(args.get("tag", [])),
            max_results=args.get("max_results"),
            after=tokens.decode(LISTING, args.get("page_token"), filters),
        )
        return answer(
            {
                "models": [dump_model(info) for info in page.items],
                "next_page_token": tokens.encode(LISTING, page.next_cursor, filters),
            }
        )

    @requires(Action.CREATE_MODEL)
    @blp.arguments(ModelIn)
    @blp.response(201, ModelOut)
    def post(self, body: dict[str, Any]) -> Response:
        """Register a model name"""
        info = registered_models.create_model(db.session, current_principal(), **body)
        db.session.commit()
        return single(ModelOut(), info, 201)


@blp.route("/<string:name>")
class Model(MethodView):
    @requires(Action.READ)
    @blp.response(200, ModelOut)
    def get(self, name: str) -> Response:
        """Get a registered model"""
        return single(
            ModelOut(), registered_models.get_model(db.session, current_principal(), name)
        )

    @requires(Action.WRITE)
    @blp.arguments(ModelPatchIn)
    @blp.response(200, ModelOut)
    def patch(self, body: dict[str, Any], name: str) -> Response:
        """Change a model's description or name

        Honours If-Match. Renaming needs the manage permission on the model; aliases, versions
        and history follow the model to its new name.
        """
        info = registered_models.update_model(
            db.session, current_principal(), name, precondition=if_match(ModelOut()), **body
        )
        db.session.commit()
        return single(ModelOut(), info)

    @requires(Action.MANAGE)
    @blp.response(204)
    def delete(self, name: str) -> Response:
        """Delete a model and all its versions

        Refused while a version is in Staging or Production. Honours If-Match.
        """
        deletion.delete_model(
            db.session, current_principal(), name, precondition=if_match(ModelOut())
        )
        db.session.commit()
        return empty()


@blp.route("/<string:name>/tags/<path:key>")
class ModelTag(MethodView):
    @requires(Action.WRITE)
    @blp.arguments(TagIn)
    @blp.response(200, ModelOut)
    def put(self, body: dict[str, Any], name: str, key: str) -> Response:
        """Set a tag on a model"""
        info = registered_models.set_model_tag(
            db.session,
            current_principal(),
            name,
            key,
            body["value"],
            precondition=if_match(ModelOut()),
        )
        db.session.commit()
        return single(ModelOut(), info)

    @requires(Action.WRITE)
    @blp.response(200, ModelOut)
    def delete(self, name: str, key: str) -> Response:
        """Delete a tag from a model"""
        info = registered_models.delete_model_tag(
            db.session, current_principal(), name, key, precondition=if_match(ModelOut())
        )
        db.session.commit()
        return single(ModelOut(), info)


@blp.route("/<string:name>/aliases/<string:alias>")
class ModelAlias(MethodView):
    @requires(Action.WRITE)
    @blp.arguments(AliasIn)
    @blp.response(200, ModelOut)
    def put(self, body: dict[str, Any], name: str, alias: str) -> Response:
        """Point an alias at a version

        Moves the alias atomically if it pointed at another version. `latest` and `v<digits>`
        are reserved. An alias protected by an alias rule may be moved only by the roles it
        names, onto a version in the stage it requires. Honours If-Match.
        """
        info = registered_models.set_alias(
            db.session,
            current_principal(),
            name,
            alias,
            body["version"],
            policies=policies(),
            precondition=if_match(ModelOut()),
        )
        db.session.commit()
        return single(ModelOut(), info)

    @requires(Action.WRITE)
    @blp.response(200, ModelOut)
    def delete(self, name: str, alias: str) -> Response:
        """Remove an alias"""
        info = registered_models.delete_alias(
            db.session,
            current_principal(),
            name,
            alias,
            policies=policies(),
            precondition=if_match(ModelOut()),
        )
        db.session.commit()
        return single(ModelOut(), info)
