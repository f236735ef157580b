"""The policies in force, and a dry run of a transition against them."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from registry.api.http import Blueprint, answer, policies
from registry.domain import transitions
from registry.domain.permissions import Action
from registry.extensions import db
from registry.schemas.transitions import EvaluateIn, EvaluationOut, PolicySetOut
from registry.web.auth import current_principal, requires

blp = Blueprint(
    "policies",
    __name__,
    url_prefix="/api/v1/policies",
    description="Governance policies, as loaded from policies/.",
)


@blp.route("")
class Policies(MethodView):
    @requires(Action.READ)
    @blp.response(200, PolicySetOut)
    def get(self) -> Response:
        """The policies in force

        As loaded at start-up, with the files they came from and a digest of their contents.
        `warnings` says what the set leaves ungoverned (aliases any contributor may move).
        """
        loaded = policies()
        return answer(
            {
                "digest": loaded.digest,
                "files": list(loaded.files),
                "policies": [p.summary() for p in loaded.policies],
                "aliases": [r.summary() for r in loaded.alias_rules],
                "tokens": loaded.tokens.summary(),
                "warnings": loaded.alias_warnings(),
            },
            etag=True,
        )


@blp.route("/evaluate")
class Evaluate(MethodView):
    @requires(Action.READ)
    @blp.arguments(EvaluateIn)
    @blp.response(200, EvaluationOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Dry-run a transition

        Lists every check a request by the caller would fail now, and how many approvals it
        would need. Changes nothing.
        """
        result = transitions.evaluate(
            db.session,
            current_principal(),
            policies(),
            body["name"],
            body["version"],
            body["to_stage"],
            archive_existing_versions=body.get("archive_existing_versions"),
        )
        db.session.rollback()
        return result
