"""Stage changes and their governance: transition requests, approvals, rejections, cancels."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Response
from flask.views import MethodView

from registry.api.http import Blueprint, if_match, page_tokens, policies, single
from registry.domain import transitions
from registry.domain.permissions import Action
from registry.extensions import db
from registry.schemas.transitions import (
    ApproveIn,
    DecisionIn,
    TransitionIn,
    TransitionListArgs,
    TransitionOut,
    TransitionPage,
)
from registry.schemas.versions import VersionOut
from registry.web.auth import current_principal, requires

blp = Blueprint(
    "transitions",
    __name__,
    url_prefix="/api/v1",
    description="Stage changes, applied at once or awaiting approval.",
)

LISTING = "transition-requests"


def _answer(info: transitions.TransitionInfo, status: int = 200) -> Response:
    actions = transitions.available_actions(current_principal(), policies(), info)
    info = dataclasses.replace(info, available_actions=actions)
    return single(TransitionOut(), info, status)


@blp.route("/models/<string:name>/versions/<int:version>/transitions")
class VersionTransitions(MethodView):
    @requires(Action.REQUEST_TRANSITION)
    @blp.arguments(TransitionIn)
    @blp.response(201, TransitionOut)
    def post(self, body: dict[str, Any], name: str, version: int) -> Response:
        """Ask to move a version to another stage

        The policy in force decides: when it needs no further approval (the requester's own
        counts if they are an eligible approver and the policy allows it) the answer's
        `state` is `applied`; otherwise `pending`, awaiting approvers. A policy's refusal is
        `POLICY_VIOLATION` with every failed check in `details.failed_checks`.
        """
        info = transitions.request_transition(
            db.session,
            current_principal(),
            policies(),
            name,
            version,
            precondition=if_match(VersionOut()),
            **body,
        )
        db.session.commit()
        return _answer(info, 201)


@blp.route("/transition-requests")
class TransitionRequests(MethodView):
    @requires(Action.READ)
    @blp.arguments(TransitionListArgs, location="query")
    @blp.response(200, TransitionPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List transition requests, newest first

        Filter by `state` (e.g. `pending`: the approvals inbox) and `model`. Each request
        lists the `available_actions` the caller may take on it.
        """
        filters = {"state": args.get("state"), "model": args.get("model")}
        tokens = page_tokens()
        page = transitions.list_requests(
            db.session,
            current_principal(),
            policies(),
            state=args.get("state"),
            model=args.get("model"),
            max_results=args.get("max_results"),
            after=tokens.decode(LISTING, args.get("page_token"), filters),
        )
        return {
            "transition_requests": page.items,
            "next_page_token": tokens.encode(LISTING, page.next_cursor, filters),
        }


@blp.route("/transition-requests/<id:request_id>")
class TransitionRequest(MethodView):
    @requires(Action.READ)
    @blp.response(200, TransitionOut)
    def get(self, request_id: int) -> Response:
        """Get a transition request"""
        return single(
            TransitionOut(),
            transitions.get_request(db.session, current_principal(), policies(), request_id),
        )


@blp.route("/transition-requests/<id:request_id>/approve")
class Approve(MethodView):
    @requires(Action.APPROVE)
    @blp.arguments(ApproveIn)
    @blp.response(200, TransitionOut)
    def post(self, body: dict[str, Any], request_id: int) -> Response:
        """Approve a request

        Applies the transition when this approval completes the quorum. Gates and freeze
        windows are checked again first; if they fail, nothing is recorded.
        """
        info = transitions.approve(db.session, current_principal(), policies(), request_id, **body)
        db.session.commit()
        return _answer(info)


@blp.route("/transition-requests/<id:request_id>/reject")
class Reject(MethodView):
    @requires(Action.APPROVE)
    @blp.arguments(DecisionIn)
    @blp.response(200, TransitionOut)
    def post(self, body: dict[str, Any], request_id: int) -> Response:
        """Reject a request"""
        info = transitions.reject(db.session, current_principal(), policies(), request_id, **body)
        db.session.commit()
        return _answer(info)


@blp.route("/transition-requests/<id:request_id>/cancel")
class Cancel(MethodView):
    @requires(Action.REQUEST_TRANSITION)
    @blp.arguments(DecisionIn)
    @blp.response(200, TransitionOut)
    def post(self, body: dict[str, Any], request_id: int) -> Response:
        """Cancel a request (its requester, or an admin of the model)"""
        info = transitions.cancel(db.session, current_principal(), request_id, **body)
        db.session.commit()
        return _answer(info)
