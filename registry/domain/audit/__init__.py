"""Reading the audit ledger: query, export, verification and stage history at a moment.

- :mod:`.query`: filters, pages of events, every event in chunks, counts;
- :mod:`.export`: NDJSON and CSV text of the events (the API, the console and the CLI);
- :mod:`.verify`: the hash chain, signed checkpoints, and (through :mod:`.replay`) the
  registry's tables against what the ledger says;
- :mod:`.history`: who held Staging and Production at a moment;
- :mod:`.policies`: recording the policy set in force when it changes.

Writing to the ledger is :mod:`registry.domain.events` and :mod:`registry.domain.ledger`.
The functions callers use are re-exported here: ``audit.query(...)``.
"""

from registry.domain.audit.export import (
    CSV_COLUMNS,
    canonical_line,
    csv_chunks,
    export_body,
    spreadsheet_safe,
)
from registry.domain.audit.history import Holder, StageHistory, stage_history
from registry.domain.audit.policies import POLICY_LOADED, record_policies_if_changed
from registry.domain.audit.query import (
    CHUNK,
    EventInfo,
    Filters,
    count,
    iterate,
    make_filters,
    query,
)
from registry.domain.audit.verify import MAX_PROBLEMS, CheckpointCheck, Verification, verify

__all__ = [
    "CHUNK",
    "CSV_COLUMNS",
    "MAX_PROBLEMS",
    "POLICY_LOADED",
    "CheckpointCheck",
    "EventInfo",
    "Filters",
    "Holder",
    "StageHistory",
    "Verification",
    "canonical_line",
    "count",
    "csv_chunks",
    "export_body",
    "iterate",
    "make_filters",
    "query",
    "record_policies_if_changed",
    "spreadsheet_safe",
    "stage_history",
    "verify",
]
