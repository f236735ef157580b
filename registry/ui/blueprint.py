"""The console's blueprint, and what its pages share: reading query parameters, rendering with
the navigation the signed-in person may use.

Like the API's views, the pages parse input, call a domain function with the signed-in
person, commit once and render; every rule lives in registry.domain. A refused action (not
an eligible approver, already decided, a policy's gate failing) is shown on the page it came
from, with the status the API would answer, never as a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template, request

from registry.domain import permissions
from registry.domain.errors import InvalidArgument
from registry.domain.permissions import Action

bp = Blueprint(
    "ui",
    __name__,
    url_prefix="/ui",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


PAGE = 50


def query_text(name: str, maximum: int = 200) -> str | None:
    """A query parameter, stripped; None when blank. Over-long input is a clear 400."""
    value = request.args.get(name, "").strip()
    if len(value) > maximum:
        raise InvalidArgument(f"{name} is longer than {maximum} characters.", field=name)
    return value or None


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
