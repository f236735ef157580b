"""GET /api/v1/resolve: which version a models:/ URI names right now."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from registry.api.http import Blueprint, answer
from registry.domain.permissions import Action
from registry.domain.resolve import resolve
from registry.domain.uris import version_uri
from registry.extensions import db
from registry.schemas.versions import ResolveArgs, ResolvedOut, dump_version
from registry.web.auth import current_principal, requires

blp = Blueprint(
    "resolve",
    __name__,
    url_prefix="/api/v1",
    description="Resolution of models:/ URIs, the deploy pipelines' hot path.",
)


@blp.route("/resolve")
class Resolve(MethodView):
    @requires(Action.READ)
    @blp.arguments(ResolveArgs(), location="query")  # an instance: not built per request
    @blp.response(200, ResolvedOut)
    def get(self, args: dict[str, Any]) -> Response:
        """Resolve a models:/ URI to a version

        `models:/NAME/Production` (any case), `models:/NAME/3`, `models:/NAME/latest` or
        `models:/NAME@ALIAS`. The highest-numbered version wins when several share a stage.
        Send the ETag back in If-None-Match to get 304 while nothing has changed.
        """
        _, info = resolve(db.session, current_principal(), args["uri"])
        data = dump_version(info)
        data["uri"] = version_uri(info.name, info.version)
        return answer(data, etag=True)
