"""/api/v1/models/{name}/versions: model versions and their tags."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from registry.api.http import Blueprint, answer, empty, if_match, page_tokens, single
from registry.domain import deletion, versions
from registry.domain.permissions import Action
from registry.domain.stages import Stage
from registry.extensions import db
from registry.schemas.common import TagIn
from registry.schemas.versions import (
    ManifestOut,
    VersionIn,
    VersionListArgs,
    VersionOut,
    VersionPage,
    VersionPatchIn,
    dump_version,
)
from registry.web.auth import current_principal, requires

blp = Blueprint(
    "versions",
    __name__,
    url_prefix="/api/v1/models/<string:name>/versions",
    description="Model versions and their tags.",
)

LISTING = "versions"


@blp.route("")
class Versions(MethodView):
    @requires(Action.READ)
    @blp.arguments(VersionListArgs, location="query")
    @blp.response(200, VersionPage)
    def get(self, args: dict[str, Any], name: str) -> dict[str, Any]:
        """List a model's versions, newest first"""
        stage = Stage.parse(args["stage"]) if "stage" in args else None
        filters = {"name": name, "stage": stage}
        tokens = page_tokens()
        page = versions.list_versions(
            db.session,
            current_principal(),
            name,
            stage=stage,
            max_results=args.get("max_results"),
            after=tokens.decode(LISTING, args.get("page_token"), filters),
        )
        return {
            "versions": page.items,
            "next_page_token": tokens.encode(LISTING, page.next_cursor, filters),
        }

    @requires(Action.WRITE)
    @blp.arguments(VersionIn)
    @blp.response(201, VersionOut)
    def post(self, body: dict[str, Any], name: str) -> Response:
        """Register a new version

        Numbers are consecutive per model (1, 2, 3...) even when registrations race.
        """
        info = versions.create_version(db.session, current_principal(), name, **body)
        db.session.commit()
        return single(VersionOut(), info, 201)


@blp.route("/<int:version>")
class Version(MethodView):
    @requires(Action.READ)
    @blp.response(200, VersionOut)
    def get(self, name: str, version: int) -> Response:
        """Get a model version"""
        info = versions.get_version(db.session, current_principal(), name, version)
        return answer(dump_version(info), etag=True)

    @requires(Action.WRITE)
    @blp.arguments(VersionPatchIn)
    @blp.response(200, VersionOut)
    def patch(self, body: dict[str, Any], name: str, version: int) -> Response:
        """Change a version's description

        Honours If-Match.
        """
        info = versions.update_version(
            db.session,
            current_principal(),
            name,
            version,
            precondition=if_match(VersionOut()),
            **body,
        )
        db.session.commit()
        return single(VersionOut(), info)

    @requires(Action.MANAGE)
    @blp.response(204)
    def delete(self, name: str, version: int) -> Response:
        """Delete a version

        Refused while it is in Staging or Production. Its aliases go with it; its number is
        never reused. Honours If-Match.
        """
        deletion.delete_version(
            db.session, current_principal(), name, version, precondition=if_match(VersionOut())
        )
        db.session.commit()
        return empty()


@blp.route("/<int:version>/manifest")
class VersionManifest(MethodView):
    @requires(Action.READ)
    @blp.response(200, ManifestOut)
    def get(self, name: str, version: int) -> Response:
        """Get the manifest of a version's files

        For versions registered from Modelgate's artifact store: the in-toto statement the
        OpenSSF model-signing library would sign over the same files (each file's SHA-256,
        and the model digest over them all, which is the version's `digest`). A signature
        made with model-signing over the downloaded files verifies against it. 404 for
        other versions.
        """
        manifest = versions.get_manifest(db.session, current_principal(), name, version)
        return answer(manifest, etag=True)


@blp.route("/<int:version>/tags/<path:key>")
class VersionTag(MethodView):
    @requires(Action.WRITE)
    @blp.arguments(TagIn)
    @blp.response(200, VersionOut)
    def put(self, body: dict[str, Any], name: str, version: int, key: str) -> Response:
        """Set a tag on a version"""
        info = versions.set_version_tag(
            db.session,
            current_principal(),
            name,
            version,
            key,
            body["value"],
            precondition=if_match(VersionOut()),
        )
        db.session.commit()
        return single(VersionOut(), info)

    @requires(Action.WRITE)
    @blp.response(200, VersionOut)
    def delete(self, name: str, version: int, key: str) -> Response:
        """Delete a tag from a version"""
        info = versions.delete_version_tag(
            db.session,
            current_principal(),
            name,
            version,
            key,
            precondition=if_match(VersionOut()),
        )
        db.session.commit()
        return single(VersionOut(), info)
