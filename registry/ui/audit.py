"""The console's audit log: filtered pages of the ledger, and its export."""

from __future__ import annotations

import datetime as dt

from flask import Response, request, stream_with_context

from registry.api.http import page_tokens
from registry.domain import audit, permissions
from registry.domain.audit.export import export_body
from registry.domain.errors import InvalidArgument
from registry.domain.events import EventType
from registry.domain.permissions import Action
from registry.extensions import db
from registry.ui import session
from registry.ui.blueprint import PAGE, bp, query_text, render
from registry.ui.session import signed_in


def _when(name: str) -> dt.datetime | None:
    """A ``datetime-local`` field (read as UTC) or an ISO 8601 time."""
    value = query_text(name, 40)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be a date and time such as 2026-03-01T09:00.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _audit_filters() -> audit.Filters:
    version = query_text("version", 12)
    try:
        number = int(version) if version is not None else None
    except ValueError:
        raise InvalidArgument("version must be a whole number.", field="version") from None
    return audit.make_filters(
        model=query_text("model"),
        version=number,
        actor=query_text("actor"),
        event=query_text("event", 64),
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
