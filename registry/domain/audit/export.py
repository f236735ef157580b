"""The audit export's text: NDJSON (each event exactly as the API shows it) or CSV.

The API's export, the console's and ``modelgate audit export`` all write these, in pieces,
so memory stays flat for any number of events.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from registry.domain import ledger
from registry.domain.audit.query import EventInfo


def canonical_line(event: EventInfo) -> str:
    """One NDJSON line: the event as the API shows it."""
    return json.dumps(event.as_dict(), ensure_ascii=False, separators=(",", ":"))


# The ledger's own fields, with data (the widest) last so the table stays readable.
CSV_COLUMNS = [
    *(f for f in ledger.HASHED_FIELDS if f != "data"),
    *ledger.HASHED_WHEN_PRESENT,
    "hash",
    "data",
]


def export_body(events: Iterator[EventInfo], fmt: str) -> tuple[Iterator[str], str]:
    """The export's text in pieces, and its media type: ``csv`` or ``ndjson``."""
    if fmt == "csv":
        return csv_chunks(events), "text/csv"
    return (canonical_line(e) + "\n" for e in events), "application/x-ndjson"


# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"); a model named =HYPERLINK(...) must stay text when an auditor opens the export.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a spreadsheet shows it as text: a leading ``'`` before a formula start.

    The NDJSON export keeps every value exact; this is for the CSV, which people open."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(events: Iterator[EventInfo]) -> Iterator[str]:
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
