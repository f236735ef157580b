"""The console's model pages: the list, one model (versions, requests, stage history), and the
form that asks to move a version.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, request, url_for

from registry.api.http import page_tokens, policies
from registry.domain import audit, permissions, registered_models, transitions, versions
from registry.domain.errors import DomainError
from registry.domain.permissions import Action
from registry.domain.stages import Stage
from registry.extensions import db
from registry.ui import session
from registry.ui.blueprint import PAGE, bp, query_text, render
from registry.ui.session import signed_in
from registry.web import refusals


@bp.get("/")
@signed_in
def index() -> Response:
    return redirect(url_for("ui.inbox"))


@bp.get("/models")
@signed_in
def models() -> tuple[str, int]:
    principal = session.current()
    query = query_text("q", 100)
    filters = {"q": query}
    tokens = page_tokens()
    page = registered_models.list_models(
        db.session,
        principal,
        name_glob=f"*{query}*" if query else None,
        max_results=PAGE,
        after=tokens.decode("ui-models", request.args.get("page"), filters),
    )
    names = [m.name for m in page.items]
    pending = transitions.pending_counts(db.session, principal, names)
    template = "_models_table.html" if request.headers.get("HX-Request") else "models.html"
    return render(
        template,
        models=page.items,
        pending=pending,
        query=query or "",
        next_page=tokens.encode("ui-models", page.next_cursor, filters),
    )


@bp.get("/models/<string:name>")
@signed_in
def model(name: str) -> tuple[str, int]:
    principal = session.current()
    info = registered_models.get_model(db.session, principal, name)
    listed = versions.list_versions(db.session, principal, info.name, max_results=PAGE)
    requests = transitions.list_requests(
        db.session, principal, policies(), model=info.name, max_results=PAGE
    )
    history = audit.stage_history(db.session, principal, info.name)
    return render(
        "model.html",
        model=info,
        versions=listed.items,
        more_versions=listed.next_cursor is not None,
        requests=requests.items,
        history=history,
        may_request=permissions.can(principal, Action.REQUEST_TRANSITION, info.name),
        stages=[s.value for s in Stage],
    )


@bp.post("/models/<string:name>/versions/<int:version>/transitions")
@signed_in
def request_transition(name: str, version: int) -> Any:
    try:
        info = transitions.request_transition(
            db.session,
            session.current(),
            policies(),
            name,
            version,
            to_stage=request.form.get("to_stage", ""),
            comment=request.form.get("comment") or None,
        )
    except DomainError as error:
        db.session.rollback()
        if error.code == "NOT_FOUND":
            raise
        refusals.note(error)
        flash(error.message, "error")
        return redirect(url_for("ui.model", name=name), code=303)
    db.session.commit()
    if info.state == "applied":
        flash(f"Version {version} moved to {info.to_stage}.", "success")
        return redirect(url_for("ui.model", name=name), code=303)
    flash(f"Request {info.id} filed; it awaits approval.", "success")
    return redirect(url_for("ui.transition_request", request_id=info.id), code=303)
