"""Databricks' governance calls, on Modelgate's transition requests and comments.

``transition-requests/{create,approve,reject,delete,list}`` and ``comments/create`` keep
scripts written against Databricks' workspace registry working. Databricks addresses a request
by (model, version, target stage), and for a cancel also by its creator, never by id; there is
at most one pending request per version and target stage here, so the address finds it.

Where the models differ: a request the policy lets its requester apply alone is applied when
it is created (its ``state`` says ``applied``); approvals count towards the policy's quorum,
so an approval may leave the request pending; and ``archive_existing_versions`` on approve
replaces the flag the request was filed with.
"""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response

from registry.api.http import answer, policies
from registry.domain import comments, transitions
from registry.domain.permissions import Action
from registry.domain.transitions import TransitionInfo
from registry.extensions import db
from registry.mlflow import entities, errors
from registry.mlflow.fields import Fields
from registry.web.auth import current_principal, requires

blp = Blueprint("mlflow_governance", __name__)
errors.register(blp)


def _with_actions(info: TransitionInfo) -> TransitionInfo:
    actions = transitions.available_actions(current_principal(), policies(), info)
    return dataclasses.replace(info, available_actions=actions)


def _addressed(fields: Fields, *, by_creator: bool = False) -> int:
    return transitions.find_pending(
        db.session,
        current_principal(),
        fields.required("name"),
        fields.version(),
        fields.required("stage"),
        requested_by=fields.required("creator") if by_creator else None,
    )


@blp.post("/transition-requests/create")
@requires(Action.REQUEST_TRANSITION, basic_auth=True)
def create_transition_request() -> Response:
    fields = Fields()
    info = transitions.request_transition(
        db.session,
        current_principal(),
        policies(),
        fields.required("name"),
        fields.version(),
        to_stage=fields.required("stage"),
        comment=fields.string("comment"),
    )
    db.session.commit()
    return answer({"request": entities.transition_request(_with_actions(info))})


@blp.post("/transition-requests/approve")
@requires(Action.APPROVE, basic_auth=True)
def approve_transition_request() -> Response:
    fields = Fields()
    info = transitions.approve(
        db.session,
        current_principal(),
        policies(),
        _addressed(fields),
        comment=fields.string("comment"),
        archive_existing_versions=fields.boolean("archive_existing_versions"),
    )
    db.session.commit()
    activity = entities.activity(info, "APPROVED_REQUEST", current_principal().id)
    return answer({"activity": activity})


@blp.post("/transition-requests/reject")
@requires(Action.APPROVE, basic_auth=True)
def reject_transition_request() -> Response:
    fields = Fields()
    info = transitions.reject(
        db.session,
        current_principal(),
        policies(),
        _addressed(fields),
        comment=fields.string("comment"),
    )
    db.session.commit()
    activity = entities.activity(info, "REJECTED_REQUEST", current_principal().id)
    return answer({"activity": activity})


@blp.delete("/transition-requests/delete")
@requires(Action.REQUEST_TRANSITION, basic_auth=True)
def cancel_transition_request() -> Response:
    fields = Fields()
    info = transitions.cancel(
        db.session,
        current_principal(),
        _addressed(fields, by_creator=True),
        comment=fields.string("comment"),
    )
    db.session.commit()
    activity = entities.activity(info, "CANCELLED_REQUEST", current_principal().id)
    return answer({"activity": activity})


@blp.get("/transition-requests/list")
@requires(Action.READ, basic_auth=True)
def list_transition_requests() -> Response:
    fields = Fields()
    page = transitions.list_requests(
        db.session,
        current_principal(),
        policies(),
        state="pending",
        model=fields.required("name"),
        version=fields.version(),
    )
    # At most one pending request per target stage: four, whatever the page size.
    return answer({"requests": [entities.transition_request(r) for r in page.items]})


@blp.post("/comments/create")
@requires(Action.COMMENT, basic_auth=True)
def create_comment() -> Response:
    fields = Fields()
    info = comments.add_comment(
        db.session,
        current_principal(),
        fields.required("name"),
        fields.version(),
        fields.required("comment"),
    )
    db.session.commit()
    return answer({"comment": entities.comment(info)})
