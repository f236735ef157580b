"""The console's access page (admins): tokens and role bindings, and a second admin's approval."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for

from registry.domain import identity
from registry.domain.errors import DomainError
from registry.extensions import db
from registry.ui import session
from registry.ui.blueprint import bp, render
from registry.ui.session import signed_in
from registry.web import auth
from registry.web.errors import STATUS_BY_CODE


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
