"""Importing another registry's models: numbers, stages, aliases and tags kept, then governed.

The first import of a model is not a sequence of ordinary changes. Versions keep their
numbers (gaps included), and stages and aliases are set as the source has them, without
transition requests or approvals: the source's history is what it is (migration day is the
trust point), and policies apply from then on. Each change is recorded as one ``import``
event naming the source, the equivalent ordinary event (``change``) and the original times
and user, so the ledger says plainly what came from elsewhere.

From then on (``sync``) the source is no authority over what serves. New versions, tags and
descriptions come over as before, but a stage moved at the source becomes a transition
request here, filed under the policy in force by a principal that may approve nothing
(``system:import`` as a contributor), and an alias moved there is moved here only as the
alias rules let any contributor move it; otherwise (or with ``source_moves="skip"``) the
move is reported and held back. A model that appears at the source after the first run
comes in the same way: its versions in None, their stages as requests. Whoever still writes
to the old registry therefore moves nothing that the approvals here would not.

What was imported is remembered per source, model and version (``ImportRecord``). Each field
is then judged three ways: as last imported (base), as the source has it now (theirs) and as
Modelgate has it now (ours). Only the source changed: it is brought over (with ``sync``).
Both changed, differently: a conflict, reported and never overwritten. The record keeps the
base of a conflicting field, so the conflict is reported again until someone resolves it.

Nothing here commits: the caller commits each model's changes and events together.

- :mod:`.source`: the source's models and versions as data, checked; the outcome;
- :mod:`.model`: :func:`import_model`, one model per call;
- :mod:`.writes`: what an import writes, each change an ``import`` event;
- :mod:`.sync`: the first import and the three-way sync of later runs.
"""

from registry.domain.imports.model import import_model
from registry.domain.imports.source import (
    SOURCE_MOVES,
    STATUSES,
    Outcome,
    SourceModel,
    SourceVersion,
    check_model,
    check_version,
)
from registry.domain.imports.writes import requester

__all__ = [
    "SOURCE_MOVES",
    "STATUSES",
    "Outcome",
    "SourceModel",
    "SourceVersion",
    "check_model",
    "check_version",
    "import_model",
    "requester",
]
