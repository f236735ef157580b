"""Comments on model versions."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from registry.api.http import Blueprint, page_tokens, single
from registry.domain import comments
from registry.domain.permissions import Action
from registry.extensions import db
from registry.schemas.common import PageArgs
from registry.schemas.transitions import CommentIn, CommentOut, CommentPage
from registry.web.auth import current_principal, requires

blp = Blueprint(
    "comments",
    __name__,
    url_prefix="/api/v1/models/<string:name>/versions/<int:version>/comments",
    description="Comments on versions, by people and by automation.",
)

LISTING = "comments"


@blp.route("")
class Comments(MethodView):
    @requires(Action.READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, CommentPage)
    def get(self, args: dict[str, Any], name: str, version: int) -> dict[str, Any]:
        """List a version's comments, oldest first"""
        filters = {"name": name, "version": version}
        tokens = page_tokens()
        page = comments.list_comments(
            db.session,
            current_principal(),
            name,
            version,
            max_results=args.get("max_results"),
            after=tokens.decode(LISTING, args.get("page_token"), filters),
        )
        return {
            "comments": page.items,
            "next_page_token": tokens.encode(LISTING, page.next_cursor, filters),
        }

    @requires(Action.COMMENT)
    @blp.arguments(CommentIn)
    @blp.response(201, CommentOut)
    def post(self, body: dict[str, Any], name: str, version: int) -> Response:
        """Comment on a version (optionally about one of its requests)"""
        info = comments.add_comment(
            db.session, current_principal(), name, version, body["text"], body.get("request_id")
        )
        db.session.commit()
        return single(CommentOut(), info, 201)
