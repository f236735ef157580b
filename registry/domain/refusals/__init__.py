"""Refused attempts on the record: ``access.denied`` and ``transition.refused`` ledger events.

Which refusals are recorded (:func:`classify`), on writes only (reads are the bulk of the
traffic and change nothing):

- ``access.denied``: the caller could not be authenticated (401: no token, a malformed,
  unknown, forged, revoked or expired one), its roles do not allow the action (403), or it
  acted on a model outside its grants (answered 404, so the name does not leak, but recorded
  as the refusal it is).
- ``transition.refused``: governance said no to a stage or alias change: a policy's checks
  failed (422 POLICY_VIOLATION), the policy needs approvals the caller cannot give itself
  (the MLflow layer's direct transition-stage), the caller is not an eligible approver for
  this move, approves its own request or rejects it, the move is not in the stage table,
  or the request is already pending, no longer pending or already approved by them (409).

The line between the two: roles and authentication decide *who may act at all*
(access.denied); the policies decide *what governance allows on this move*
(transition.refused). So a viewer approving is access.denied (no approver role), an
approver approving their own request is transition.refused (the policy forbids it).

Each event names the actor (the principal when authenticated; for a dead token, whose it
was; otherwise ``anonymous`` with a SHA-256 fingerprint of what was presented, never the
secret), the operation and domain action, the target (model, version, transition request,
stage), the error code and a finer reason, the client address, and the HTTP request id in
the event's ``request_id``.

Flood control (:class:`FloodGate`): per credential and minute the first refusals are recorded
one by one; the rest are counted and written as one event with ``data.aggregated`` and
``data.count`` when the minute closes. A cap per minute across all credentials bounds the
individual events a process writes however many addresses a flood comes from, and a cap on
the credentials counted per minute bounds the summaries. Counts live in the memory of each
process: several processes each write their own summary (the counts add up), and a process
killed without a clean shutdown loses the counts of its open minute (what was recorded one
by one stays).

- :mod:`.records`: classifying a refusal and writing its event;
- :mod:`.flood`: counting floods into one summary per credential and minute.

The names callers use are re-exported here: ``refusals.classify(...)``.
"""

from registry.domain.refusals.flood import (
    MAX_COUNTERS,
    MAX_LISTED,
    VARIOUS,
    WINDOW_SECONDS,
    FloodGate,
    Summary,
    write_summaries,
)
from registry.domain.refusals.records import (
    ACCESS_DENIED,
    ANONYMOUS,
    FINGERPRINT_HEX,
    GOVERNANCE_REASONS,
    TRANSITION_REFUSED,
    Caller,
    Credential,
    Refusal,
    Target,
    classify,
    fingerprint,
    refusal,
    write,
)

__all__ = [
    "ACCESS_DENIED",
    "ANONYMOUS",
    "FINGERPRINT_HEX",
    "GOVERNANCE_REASONS",
    "MAX_COUNTERS",
    "MAX_LISTED",
    "TRANSITION_REFUSED",
    "VARIOUS",
    "WINDOW_SECONDS",
    "Caller",
    "Credential",
    "FloodGate",
    "Refusal",
    "Summary",
    "Target",
    "classify",
    "fingerprint",
    "refusal",
    "write",
    "write_summaries",
]
