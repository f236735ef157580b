"""Stage changes of a version: POST .../versions/{version}/transitions."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from registry.api.http import Blueprint, single
from registry.auth import current_principal, requires
from registry.domain import transitions
from registry.domain.permissions import Action
from registry.extensions import db
from registry.schemas.transitions import TransitionIn, TransitionOut

blp = Blueprint(
    "transitions",
    __name__,
    url_prefix="/api/v1",
    description="Stage changes, applied at once or awaiting approval.",
)


@blp.route("/models/<string:name>/versions/<int:version>/transitions")
class VersionTransitions(MethodView):
    @requires(Action.REQUEST_TRANSITION)
    @blp.arguments(TransitionIn)
    @blp.response(201, TransitionOut)
    def post(self, body: dict[str, Any], name: str, version: int) -> Response:
        """Move a version to another stage

        The answer is the transition request; its `state` is `applied` when the change was
        made at once. `archive_existing_versions` archives the versions already in the target
        stage in the same transaction.
        """
        info = transitions.request_transition(
            db.session, current_principal(), name, version, **body
        )
        db.session.commit()
        return single(TransitionOut(), info, 201)
