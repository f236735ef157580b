"""The console's transition requests: the approver's inbox, a request's page, its decisions
(approve, reject, cancel) and its discussion.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for

from registry.api.http import policies
from registry.domain import comments, permissions, transitions, versions
from registry.domain.errors import DomainError
from registry.domain.permissions import Action
from registry.extensions import db
from registry.ui import session
from registry.ui.blueprint import bp, render
from registry.ui.session import signed_in
from registry.web import refusals
from registry.web.errors import STATUS_BY_CODE

DECISIONS = {
    "approve": transitions.approve,
    "reject": transitions.reject,
}


# The permission each decision's API route declares (registry/api/transitions.py).
COARSE = {
    "approve": Action.APPROVE,
    "reject": Action.APPROVE,
    "cancel": Action.REQUEST_TRANSITION,
}


@bp.get("/inbox")
@signed_in
def inbox() -> tuple[str, int]:
    principal = session.current()
    page = transitions.list_requests(
        db.session, principal, policies(), state="pending", max_results=200
    )
    mine = [r for r in page.items if "approve" in r.available_actions]
    others = [r for r in page.items if "approve" not in r.available_actions]
    checks = {
        r.id: transitions.request_checks(db.session, principal, policies(), r.id) for r in mine
    }
    return render(
        "inbox.html",
        mine=mine,
        others=others,
        checks=checks,
        truncated=page.next_cursor is not None,
    )


def _request_page(request_id: int, status: int = 200) -> tuple[str, int]:
    principal = session.current()
    info = transitions.get_request(db.session, principal, policies(), request_id)
    checks = transitions.request_checks(db.session, principal, policies(), request_id)
    version = versions.get_version(db.session, principal, info.name, info.version)
    thread = comments.list_comments(db.session, principal, info.name, info.version)
    return render(
        "request.html",
        status,
        req=info,
        checks=checks,
        version=version,
        comments=thread.items,
        may_comment=permissions.can(principal, Action.COMMENT, info.name),
    )


@bp.get("/requests/<id:request_id>")
@signed_in
def transition_request(request_id: int) -> tuple[str, int]:
    return _request_page(request_id)


@bp.post("/requests/<id:request_id>/<any(approve, reject, cancel):decision>")
@signed_in
def decide(request_id: int, decision: str) -> Any:
    """Approve, reject or cancel, with an optional comment; the outcome is shown on the
    request's page (refusals with the status the API gives them)."""
    principal = session.current()
    comment = request.form.get("comment") or None
    try:
        # The API's early refusal (auth.authorize) first, then the domain's own checks.
        permissions.require(principal, COARSE[decision])
        if decision == "cancel":
            info = transitions.cancel(db.session, principal, request_id, comment=comment)
        else:
            info = DECISIONS[decision](
                db.session, principal, policies(), request_id, comment=comment
            )
    except DomainError as error:
        db.session.rollback()
        if error.code == "NOT_FOUND":
            raise
        refusals.note(error, action=decision)
        flash(error.message, "error")
        return _request_page(request_id, STATUS_BY_CODE.get(error.code, 400))
    db.session.commit()
    if info.state == "applied":
        flash(f"Approved: version {info.version} of {info.name} is now in {info.to_stage}.")
    elif decision == "approve":
        flash(
            f"Approved ({len(info.approvals)} of {info.required_approvals}); "
            "the request awaits more approvals."
        )
    else:
        flash(f"Request {info.id} {info.state}.")
    target = request.form.get("back")
    if target == "inbox":
        return redirect(url_for("ui.inbox"), code=303)
    return redirect(url_for("ui.transition_request", request_id=request_id), code=303)


@bp.post("/requests/<id:request_id>/comments")
@signed_in
def comment(request_id: int) -> Any:
    """Comment on a request (a comment on its version, tied to the request)."""
    principal = session.current()
    info = transitions.get_request(db.session, principal, policies(), request_id)
    try:
        comments.add_comment(
            db.session,
            principal,
            info.name,
            info.version,
            request.form.get("text", ""),
            request_id=request_id,
        )
    except DomainError as error:
        db.session.rollback()
        refusals.note(error)
        flash(error.message, "error")
        return _request_page(request_id, STATUS_BY_CODE.get(error.code, 400))
    db.session.commit()
    flash("Comment added.")
    return redirect(
        url_for("ui.transition_request", request_id=request_id, _anchor="discussion"), code=303
    )
