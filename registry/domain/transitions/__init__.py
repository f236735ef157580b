"""Stage changes under governance: requests, approvals, rejections, cancellations, expiry.

There is one path to a version's stage, :func:`registry.domain.transitions.apply.apply_transition`,
and every way in (the native API's direct transition, the approval that completes a quorum,
the MLflow layer) goes through :func:`request_transition` or :func:`approve` to reach it.

- :mod:`.requests`: filing a request (and its dry run, :func:`evaluate`);
- :mod:`.checks`: gates, freeze windows, stage exclusivity, the digest re-check;
- :mod:`.breakglass`: an admin's justified override of the freeze windows;
- :mod:`.quorum`: whose approval counts (the self-approval and distinct-person rule);
- :mod:`.decisions`: approve, reject, cancel, expiry, closing requests of deleted versions;
- :mod:`.apply`: moving the version, archiving incumbents, closing what the move supersedes;
- :mod:`.lifecycle`: what each step writes to the request and the ledger;
- :mod:`.queries`, :mod:`.actions`, :mod:`.info`, :mod:`.states`: reading requests, the
  actions a caller may take, the read models and the :class:`RequestState` enum;
- :mod:`.console`: the console's per-request checklist.

Concurrency: every function that changes a request or a stage first locks the model's row
(then the request's), so all stage changes of one model are serialised. Two approvers racing
for the last approval end with one ``applied`` and one ``CONFLICT``; two requests racing into
an exclusive stage end with one winner, and the database's partial unique indexes (one
pending request per version and stage; one version in an exclusive stage) back that up.

The functions callers use are re-exported here: ``transitions.approve(...)``.
"""

from registry.domain.transitions.actions import available_actions
from registry.domain.transitions.breakglass import BREAK_GLASS_VALIDITY, MIN_JUSTIFICATION
from registry.domain.transitions.console import CheckResult, request_checks
from registry.domain.transitions.decisions import (
    approve,
    cancel,
    close_pending,
    expire_due,
    find_pending,
    reject,
)
from registry.domain.transitions.info import ApprovalInfo, Evaluation, TransitionInfo
from registry.domain.transitions.queries import get_request, list_requests, pending_counts
from registry.domain.transitions.requests import evaluate, request_transition
from registry.domain.transitions.states import STATES, RequestState

__all__ = [
    "BREAK_GLASS_VALIDITY",
    "MIN_JUSTIFICATION",
    "STATES",
    "ApprovalInfo",
    "CheckResult",
    "Evaluation",
    "RequestState",
    "TransitionInfo",
    "approve",
    "available_actions",
    "cancel",
    "close_pending",
    "evaluate",
    "expire_due",
    "find_pending",
    "get_request",
    "list_requests",
    "pending_counts",
    "reject",
    "request_checks",
    "request_transition",
]
