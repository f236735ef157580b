"""The pure checks a policy makes of a version: its gates and freeze windows.

Gate kinds are a small table from name to pure function (:data:`GATES`); adding a kind means
adding a function there and a property to the policy schema. Each failure is a
:data:`registry.domain.policy.rules.Check`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from registry.domain.policy.rules import Check, Policy
from registry.domain.stages import Stage
from registry.domain.validation import source_scheme


@dataclass(frozen=True, slots=True)
class Facts:
    """What the gates look at: the version as it is now."""

    model: str
    version: int
    tags: Mapping[str, str]
    description: str | None
    source: str
    digest: str | None = None


def _required_tags(policy: Policy, facts: Facts) -> list[Check]:
    failed = []
    for key, allowed in policy.required_tags.items():
        value = facts.tags.get(key)
        if value is None:
            failed.append(
                {
                    "check": "required_tag",
                    "key": key,
                    "allowed": list(allowed or []),
                    "actual": None,
                    "message": f"The version needs the tag {key!r}.",
                }
            )
        elif allowed is not None and value not in allowed:
            failed.append(
                {
                    "check": "required_tag",
                    "key": key,
                    "allowed": list(allowed),
                    "actual": value,
                    "message": f"Tag {key!r} is {value!r}; allowed: "
                    f"{', '.join(repr(a) for a in allowed)}.",
                }
            )
    return failed


def _description(policy: Policy, facts: Facts) -> list[Check]:
    if policy.require_description and not (facts.description or "").strip():
        return [{"check": "required_description", "message": "The version needs a description."}]
    return []


def _metrics(policy: Policy, facts: Facts) -> list[Check]:
    failed = []
    for gate in policy.metrics:
        raw = facts.tags.get(gate.key)
        base = {"check": "metric", "expression": gate.expression, "key": gate.key, "actual": raw}
        if raw is None:
            failed.append(
                {
                    **base,
                    "message": f"The version has no tag {gate.key!r} to check "
                    f"{gate.expression!r} against.",
                }
            )
            continue
        try:
            value = float(raw)
        except ValueError:
            failed.append({**base, "message": f"Tag {gate.key!r} is {raw!r}, not a number."})
            continue
        if not gate.holds(value):
            failed.append(
                {**base, "message": f"{gate.key} is {raw}; the policy needs {gate.expression}."}
            )
    return failed


def _source_scheme(policy: Policy, facts: Facts) -> list[Check]:
    if policy.source_schemes is None:
        return []
    scheme = source_scheme(facts.source)
    if scheme in policy.source_schemes:
        return []
    return [
        {
            "check": "source_scheme",
            "actual": scheme,
            "allowed": sorted(policy.source_schemes),
            "message": f"Sources with scheme {scheme!r} may not enter {policy.stage.value}; "
            f"allowed: {', '.join(sorted(policy.source_schemes))}.",
        }
    ]


def _digest(policy: Policy, facts: Facts) -> list[Check]:
    if not policy.require_digest or facts.digest is not None:
        return []
    return [
        {
            "check": "digest",
            "message": f"Versions entering {policy.stage.value} need a digest of their files: "
            "register them from Modelgate's artifact store, or give the digest "
            "(sha256:<hex>, as model-signing computes it) when registering.",
        }
    ]


GATES: dict[str, Callable[[Policy, Facts], list[Check]]] = {
    "required_tags": _required_tags,
    "require_description": _description,
    "metrics": _metrics,
    "source_schemes": _source_scheme,
    "require_digest": _digest,
}


def check_gates(policy: Policy, facts: Facts) -> list[Check]:
    """Every gate the version fails, in a stable order."""
    failed: list[Check] = []
    for gate in GATES.values():
        failed.extend(gate(policy, facts))
    for item in failed:
        item["policy"] = policy.name
    return failed


def check_freeze(
    policy: Policy, now: dt.datetime, overridden: frozenset[str] = frozenset()
) -> list[Check]:
    """Every freeze window open now, except those an admin broke the glass on."""
    return [
        {
            "check": "freeze",
            "window": window.name,
            "when": window.describe(),
            "policy": policy.name,
            "message": f"Transitions into {policy.stage.value} are frozen ({window.name}: "
            f"{window.describe()}); an admin may override with break_glass.",
        }
        for window in policy.freeze
        if window.active(now) and window.name not in overridden
    ]


def no_policy(model: str, from_stage: Stage, to_stage: Stage) -> Check:
    return {
        "check": "no_policy",
        "from_stage": from_stage.value,
        "to_stage": to_stage.value,
        "message": f"No policy governs moving {model!r} from {from_stage.value} to "
        f"{to_stage.value}, so it is not allowed.",
    }
