"""Governance policies as data, and the pure checks that evaluate them.

A policy governs transitions into one stage (optionally only from some stages) for the
models whose names match its glob; when several match, the most specific glob wins, and on a
tie a policy naming the stage it moves from beats one that does not. It says how many
distinct approvers are needed and who may approve, whether the requester may count, which
gates a version must pass (checked when the request is made and again when it is applied),
which freeze windows block changes, how long a request may wait, and whether the stage holds
one version at most.

- :mod:`.rules`: policies, alias rules and token rules as data, and the set in force;
- :mod:`.gates`: the gates and freeze windows, pure checks of a version (``GATES``: adding
  a gate kind means adding a function there and a property to the policy schema);
- :mod:`.eligibility`: eligible approvers, and who may move a governed alias.

Policy files are read by :mod:`registry.domain.policy_files`. The names callers use are
re-exported here: ``policy.check_gates(...)``.
"""

from registry.domain.policy.eligibility import is_eligible_approver, may_move_alias
from registry.domain.policy.gates import GATES, Facts, check_freeze, check_gates, no_policy
from registry.domain.policy.rules import (
    WEEKDAYS,
    AliasRule,
    Check,
    FreezeWindow,
    MetricGate,
    Policy,
    PolicyError,
    PolicySet,
    TokenRules,
    parse_duration,
)

__all__ = [
    "GATES",
    "WEEKDAYS",
    "AliasRule",
    "Check",
    "Facts",
    "FreezeWindow",
    "MetricGate",
    "Policy",
    "PolicyError",
    "PolicySet",
    "TokenRules",
    "check_freeze",
    "check_gates",
    "is_eligible_approver",
    "may_move_alias",
    "no_policy",
    "parse_duration",
]
