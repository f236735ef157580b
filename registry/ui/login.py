"""Signing in to the console with an API token (or, when one is configured, the identity
provider: :mod:`registry.ui.oidc`), and signing out.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for

from registry.domain.errors import Unauthenticated
from registry.extensions import db
from registry.ui import session
from registry.ui.blueprint import bp
from registry.web import auth, refusals


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
