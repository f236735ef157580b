"""The console's pages. Like the API's views they parse input, call a domain function with the
signed-in person, commit once and render; every rule lives in registry.domain.

A refused action (not an eligible approver, already decided, a policy's gate failing) is
shown on the page it came from, with the status the API would answer, never as a 500.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from registry import auth, refusals
from registry.api.http import page_tokens, policies
from registry.domain import (
    audit,
    comments,
    identity,
    permissions,
    registered_models,
    transitions,
    versions,
    webhooks,
)
from registry.domain.audit.export import export_body
from registry.domain.errors import DomainError, InvalidArgument, Unauthenticated
from registry.domain.events import EventType
from registry.domain.permissions import Action
from registry.domain.stages import Stage
from registry.errors import STATUS_BY_CODE
from registry.extensions import db
from registry.ui import session
from registry.ui.session import signed_in

bp = Blueprint(
    "ui",
    __name__,
    url_prefix="/ui",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

PAGE = 50
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


def _text(name: str, maximum: int = 200) -> str | None:
    """A query parameter, stripped; None when blank. Over-long input is a clear 400."""
    value = request.args.get(name, "").strip()
    if len(value) > maximum:
        raise InvalidArgument(f"{name} is longer than {maximum} characters.", field=name)
    return value or None


def _when(name: str) -> dt.datetime | None:
    """A ``datetime-local`` field (read as UTC) or an ISO 8601 time."""
    value = _text(name, 40)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be a date and time such as 2026-03-01T09:00.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@bp.context_processor
def _navigation() -> dict[str, Any]:
    """Who is signed in and which sections they may open, for every console template
    (error pages too, once the person is known)."""
    principal = g.get("principal")
    if principal is None:
        return {}
    return {
        "principal": principal,
        "may_audit": permissions.can(principal, Action.READ_AUDIT),
        "may_admin": permissions.can(principal, Action.ADMIN),
    }


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status


# --------------------------------------------------------------------------- pages


@bp.get("/")
@signed_in
def index() -> Response:
    return redirect(url_for("ui.inbox"))


@bp.get("/models")
@signed_in
def models() -> tuple[str, int]:
    principal = session.current()
    query = _text("q", 100)
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


def _audit_filters() -> audit.Filters:
    version = _text("version", 12)
    try:
        number = int(version) if version is not None else None
    except ValueError:
        raise InvalidArgument("version must be a whole number.", field="version") from None
    return audit.make_filters(
        model=_text("model"),
        version=number,
        actor=_text("actor"),
        event=_text("event", 64),
        since=_when("since"),
        until=_when("until"),
    )


@bp.get("/audit")
@signed_in
def audit_log() -> tuple[str, int]:
    principal = session.current()
    permissions.require(principal, Action.READ_AUDIT)
    filters = _audit_filters()
    tokens = page_tokens()
    page = audit.query(
        db.session,
        principal,
        filters,
        max_results=PAGE,
        after=tokens.decode("ui-audit", request.args.get("page"), filters.as_dict()),
    )
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    return render(
        "audit.html",
        events=page.items,
        args=request.args,
        query=query,
        next_page=tokens.encode("ui-audit", page.next_cursor, filters.as_dict()),
        event_types=sorted(e.value for e in EventType),
    )


@bp.get("/audit/export.<any(csv, ndjson):fmt>")
@signed_in
def audit_export(fmt: str) -> Response:
    """The same stream as GET /api/v1/audit/export, for a browser signed in to the console."""
    filters = _audit_filters()
    events = audit.iterate(db.session, session.current(), filters)
    body, mimetype = export_body(events, fmt)
    return Response(
        stream_with_context(body),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="modelgate-audit.{fmt}"'},
    )


# --------------------------------------------------------------------------- webhooks (admins)


@bp.get("/webhooks")
@signed_in
def webhooks_page() -> tuple[str, int]:
    subscriptions = webhooks.list_webhooks(db.session, session.current())
    return render("webhooks.html", webhooks=subscriptions)


@bp.get("/webhooks/<id:webhook_id>")
@signed_in
def webhook(webhook_id: int) -> tuple[str, int]:
    principal = session.current()
    info = webhooks.get_webhook(db.session, principal, webhook_id)
    state = _text("state", 20)
    filters = {"webhook": webhook_id, "state": state}
    tokens = page_tokens()
    page = webhooks.list_deliveries(
        db.session,
        principal,
        webhook_id,
        state=state,
        max_results=25,
        after=tokens.decode("ui-deliveries", request.args.get("page"), filters),
    )
    return render(
        "webhook.html",
        webhook=info,
        deliveries=page.items,
        state=state or "",
        next_page=tokens.encode("ui-deliveries", page.next_cursor, filters),
    )


# --------------------------------------------------------------------------- access (admins)


def _access_page(status: int = 200) -> tuple[str, int]:
    principal = session.current()
    tokens = identity.list_tokens(db.session, principal)
    bindings = identity.list_bindings(db.session, principal)
    return render(
        "access.html",
        status,
        tokens=tokens,
        bindings=bindings,
        pending_tokens=[t for t in tokens if t.state == identity.PENDING],
        pending_bindings=[b for b in bindings if b.state == identity.PENDING],
    )


@bp.get("/access")
@signed_in
def access() -> tuple[str, int]:
    """Tokens and role bindings, those awaiting a second admin first (admins only)."""
    return _access_page()


@bp.post("/<any(tokens, 'role-bindings'):kind>/<id:item_id>/approve")
@signed_in
def approve_grant(kind: str, item_id: int) -> Any:
    """A second admin approves a pending token or role binding, as the API's approve calls
    do; refusals are shown on the page with the API's status."""
    principal = session.current()
    try:
        if kind == "tokens":
            token = identity.approve_token(db.session, principal, item_id)
            done = f"Token {token.id} ({token.prefix}...) of service:{token.name} is active."
        else:
            binding = identity.approve_binding(db.session, principal, item_id)
            done = f"{binding.subject} now holds {binding.role} on {binding.model_pattern!r}."
    except DomainError as error:
        db.session.rollback()
        if error.code in ("NOT_FOUND", "PERMISSION_DENIED"):
            raise
        flash(error.message, "error")
        return _access_page(STATUS_BY_CODE.get(error.code, 400))
    db.session.commit()
    auth.forget_callers()
    flash(done)
    return redirect(url_for("ui.access"), code=303)


# --------------------------------------------------------------------------- sign-in


@bp.route("/login", methods=["GET", "POST"])
@auth.public
def login() -> Any:
    """Sign in: with the identity provider when one is configured, else with an API token."""
    back = session.safe_next(request.values.get("next"))
    oidc = current_app.extensions.get("modelgate.console_oidc")
    if request.method == "POST" and oidc is None:
        token = request.form.get("token", "").strip()
        try:
            if not token:
                raise Unauthenticated("Paste a Modelgate API token to sign in.")
            principal = session.sign_in(token)
        except Unauthenticated as error:
            db.session.rollback()
            refusals.note(error, secret=token)  # a failed sign-in is on the record too
            return render_template("login.html", error=error.message, next=back, oidc=None), 401
        db.session.commit()
        flash(f"Signed in as {session.describe(principal)}.")
        return redirect(back or url_for("ui.inbox"), code=303)
    if request.method == "POST":
        abort(405)
    return render_template("login.html", error=None, next=back, oidc=oidc)


@bp.post("/logout")
@auth.public
def logout() -> Response:
    session.sign_out()
    flash("Signed out.")
    return redirect(url_for("ui.login"), code=303)
