"""/api/v1/audit: the ledger for auditors, and a model's stage history at a moment."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from flask import Response, stream_with_context
from flask.views import MethodView

from registry.api.http import Blueprint, answer, page_tokens
from registry.auth import current_principal, requires
from registry.domain import audit, ledger
from registry.domain.permissions import Action
from registry.extensions import db
from registry.schemas.audit import (
    AuditArgs,
    AuditPage,
    ExportArgs,
    StageHistoryArgs,
    StageHistoryOut,
    VerificationOut,
)

blp = Blueprint(
    "audit",
    __name__,
    url_prefix="/api/v1",
    description="The append-only, hash-chained audit ledger.",
)

LISTING = "audit"
# The ledger's own fields, with data (the widest) last so the table stays readable.
CSV_COLUMNS = [
    *(f for f in ledger.HASHED_FIELDS if f != "data"),
    *ledger.HASHED_WHEN_PRESENT,
    "hash",
    "data",
]


def _filters(args: dict[str, Any]) -> audit.Filters:
    return audit.make_filters(
        **{
            k: args[k]
            for k in ("model", "version", "actor", "event", "since", "until")
            if k in args
        }
    )


@blp.route("/audit")
class Audit(MethodView):
    @requires(Action.READ_AUDIT)
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, AuditPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Page through audit events, oldest first

        Filter by model, version, actor, event (or a family such as
        `transition_request.*`) and a time range. Needs the auditor (or admin) role.
        """
        filters = _filters(args)
        tokens = page_tokens()
        page = audit.query(
            db.session,
            current_principal(),
            filters,
            max_results=args.get("max_results"),
            after=tokens.decode(LISTING, args.get("page_token"), filters.as_dict()),
        )
        return {
            "events": [e.as_dict() for e in page.items],
            "next_page_token": tokens.encode(LISTING, page.next_cursor, filters.as_dict()),
        }


@blp.route("/audit/export")
class Export(MethodView):
    @requires(Action.READ_AUDIT)
    @blp.arguments(ExportArgs, location="query")
    @blp.response(
        200,
        description="A stream of events: NDJSON (one JSON object per line) "
        "or CSV (data as a JSON column).",
    )
    def get(self, args: dict[str, Any]) -> Response:
        """Export audit events as a stream (NDJSON or CSV)

        Streams in chunks, in constant memory, whatever the number of events.
        """
        filters = _filters(args)
        events = audit.iterate(db.session, current_principal(), filters)
        suffix = args["format"]
        body, mimetype = export_body(events, suffix)
        return Response(
            stream_with_context(body),
            mimetype=mimetype,
            headers={"Content-Disposition": f'attachment; filename="modelgate-audit.{suffix}"'},
        )


def export_body(events: Iterator[audit.EventInfo], fmt: str) -> tuple[Iterator[str], str]:
    """The export's text in pieces, and its media type: ``csv`` or ``ndjson``."""
    if fmt == "csv":
        return csv_chunks(events), "text/csv"
    return (audit.canonical_line(e) + "\n" for e in events), "application/x-ndjson"


# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"); a model named =HYPERLINK(...) must stay text when an auditor opens the export.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a spreadsheet shows it as text: a leading ``'`` before a formula start.

    The NDJSON export keeps every value exact; this is for the CSV, which people open."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(events: Iterator[audit.EventInfo]) -> Iterator[str]:
    """CSV text in pieces of about 64 kB: the header, then the events, every text cell
    spreadsheet-safe (:func:`spreadsheet_safe`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        row = event.as_dict()
        row["data"] = json.dumps(row["data"], ensure_ascii=False, sort_keys=True)
        writer.writerow([spreadsheet_safe(row[c]) for c in CSV_COLUMNS])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@blp.route("/audit/verify")
class Verify(MethodView):
    @requires(Action.READ_AUDIT)
    @blp.response(200, VerificationOut)
    def get(self) -> dict[str, Any]:
        """Recompute the hash chain and report the first bad seq, if any"""
        result = audit.verify(db.session, current_principal())
        return {
            "ok": result.ok,
            "events_checked": result.events_checked,
            "first_bad_seq": result.first_bad_seq,
            "problem": result.problem,
        }


@blp.route("/models/<string:name>/stage-history")
class StageHistory(MethodView):
    @requires(Action.READ)
    @blp.arguments(StageHistoryArgs, location="query")
    @blp.response(200, StageHistoryOut)
    def get(self, args: dict[str, Any], name: str) -> Response:
        """Who held Staging and Production at a moment

        For each stage, the versions in it at `at` (default: now), since when, through which
        transition request, requested and approved by whom, replayed from the audit ledger.
        """
        history = audit.stage_history(db.session, current_principal(), name, args.get("at"))
        return answer(StageHistoryOut().dump(history))
