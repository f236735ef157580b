"""Governance policies as data: policies, alias rules, token rules and the set in force.

A policy says how many distinct approvers are needed and who may approve, whether the
requester may count, which gates a version must pass, which freeze windows block changes,
how long a request may wait, and whether the stage holds one version at most.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from registry.domain import globs
from registry.domain.principal import Role
from registry.domain.stages import Stage

Check = dict[str, Any]  # one failed check: {"check": kind, "message": ..., details...}

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_METRIC = re.compile(r"^\s*(?P<key>\S(?:.*\S)?)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>\S+)\s*$")
_DURATION = re.compile(r"^(?P<n>\d+)\s*(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class PolicyError(ValueError):
    """A policy file is invalid; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class MetricGate:
    expression: str
    key: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, expression: str) -> MetricGate:
        match = _METRIC.match(expression)
        if not match or match["op"] not in _COMPARATORS:
            raise ValueError(f"metric gate {expression!r} must look like 'metric.auc >= 0.9'")
        try:
            threshold = float(match["value"])
        except ValueError:
            raise ValueError(
                f"metric gate {expression!r}: {match['value']!r} is not a number"
            ) from None
        return cls(expression.strip(), match["key"], match["op"], threshold)

    def holds(self, value: float) -> bool:
        return _COMPARATORS[self.op](value, self.threshold)


@dataclass(frozen=True, slots=True)
class FreezeWindow:
    """A time when transitions governed by the policy are refused.

    Either an absolute range (``start``/``end``, half-open) or a weekly pattern: some days,
    optionally only between two times of day (which may wrap past midnight), in a time zone.
    """

    name: str
    timezone: str = "UTC"
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    days: frozenset[int] = frozenset()
    from_time: dt.time | None = None
    until_time: dt.time | None = None

    def active(self, now: dt.datetime) -> bool:
        if self.start is not None and self.end is not None:
            return self.start <= now < self.end
        local = now.astimezone(ZoneInfo(self.timezone))
        if self.from_time is None or self.until_time is None:
            return local.weekday() in self.days
        t = local.time().replace(tzinfo=None)
        if self.from_time <= self.until_time:
            return local.weekday() in self.days and self.from_time <= t < self.until_time
        # Wraps midnight ("fri 18:00 until 08:00"): the evening belongs to the named day, the
        # small hours to the day after it.
        if t >= self.from_time:
            return local.weekday() in self.days
        if t < self.until_time:
            return (local.weekday() - 1) % 7 in self.days
        return False

    def describe(self) -> str:
        if self.start is not None and self.end is not None:
            return f"{self.start.isoformat()} to {self.end.isoformat()}"
        days = ", ".join(WEEKDAYS[d] for d in sorted(self.days))
        if self.from_time is not None and self.until_time is not None:
            until = "24:00" if self.until_time == dt.time.max else f"{self.until_time:%H:%M}"
            return f"{days} {self.from_time:%H:%M}-{until} ({self.timezone})"
        return f"every {days} ({self.timezone})"


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    stage: Stage
    models: str = "*"
    from_stages: frozenset[Stage] | None = None  # None: moves from any stage
    min_approvals: int = 0
    approver_roles: frozenset[Role] = frozenset({Role.APPROVER})
    forbid_self_approval: bool = False
    archive_existing_versions: bool = False
    exclusive: bool = False
    expire_after: dt.timedelta | None = None
    required_tags: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    require_description: bool = False
    metrics: tuple[MetricGate, ...] = ()
    source_schemes: frozenset[str] | None = None
    require_digest: bool = False
    freeze: tuple[FreezeWindow, ...] = ()
    source: str = ""  # "file:line", for messages

    def summary(self) -> dict[str, Any]:
        """The policy as data, for GET /policies and the console."""
        return {
            "name": self.name,
            "stage": self.stage.value,
            "from": sorted(s.value for s in self.from_stages) if self.from_stages else None,
            "models": self.models,
            "min_approvals": self.min_approvals,
            "approver_roles": sorted(r.value for r in self.approver_roles),
            "forbid_self_approval": self.forbid_self_approval,
            "archive_existing_versions": self.archive_existing_versions,
            "exclusive": self.exclusive,
            "expire_after_seconds": (
                int(self.expire_after.total_seconds()) if self.expire_after else None
            ),
            "gates": {
                "required_tags": {
                    k: list(v) if v is not None else None for k, v in self.required_tags.items()
                },
                "require_description": self.require_description,
                "metrics": [m.expression for m in self.metrics],
                "source_schemes": sorted(self.source_schemes) if self.source_schemes else None,
                "require_digest": self.require_digest,
            },
            "freeze": [{"name": w.name, "when": w.describe()} for w in self.freeze],
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class AliasRule:
    """Governs aliases matching ``alias`` on models matching ``models``: only holders of
    ``roles`` may set, move or remove them, and (with ``require_stage``) they may point only
    at a version in that stage, follow the version that replaces it there, and leave with
    it otherwise. A ``free`` rule says in so many words that any contributor may move them."""

    name: str
    alias: str
    models: str = "*"
    roles: frozenset[Role] | None = None
    require_stage: Stage | None = None
    free: bool = False
    source: str = ""

    @property
    def governed(self) -> bool:
        """Does moving the alias take more than a contributor: a stage it is bound to (whose
        approvals admitted the version) or roles that exclude contributors?"""
        if self.free:
            return False
        if self.require_stage is not None:
            return True
        return self.roles is not None and Role.CONTRIBUTOR not in self.roles

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "models": self.models,
            "roles": sorted(r.value for r in self.roles) if self.roles else None,
            "require_stage": self.require_stage.value if self.require_stage else None,
            "free": self.free,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class TokenRules:
    """Who may hand out the power to approve. A token minted, or a role binding made, over
    the API with one of ``second_admin_for_roles`` waits, inactive, until an admin other
    than the person who made it approves it: otherwise one admin could make themselves an
    approver, or an admin for a second identity, alone."""

    second_admin_for_roles: frozenset[Role] = frozenset()
    source: str = ""

    def governs(self, roles: Iterable[Role]) -> list[Role]:
        """The roles among ``roles`` that need a second admin, sorted."""
        return sorted(set(roles) & self.second_admin_for_roles, key=lambda r: r.value)

    def summary(self) -> dict[str, Any]:
        return {
            "second_admin_for_roles": sorted(r.value for r in self.second_admin_for_roles),
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class PolicySet:
    policies: tuple[Policy, ...]
    files: tuple[str, ...] = ()
    digest: str = ""
    alias_rules: tuple[AliasRule, ...] = ()
    tokens: TokenRules = TokenRules()

    def alias_rule(self, model: str, alias: str) -> AliasRule | None:
        """The rule protecting ``alias`` on ``model``: the most specific model glob, then
        alias glob."""
        candidates = [
            r
            for r in self.alias_rules
            if globs.matches(r.models, model) and globs.matches(r.alias, alias)
        ]
        if not candidates:
            return None
        return max(
            candidates, key=lambda r: (globs.specificity(r.models), globs.specificity(r.alias))
        )

    def alias_warnings(self) -> list[str]:
        """What the alias rules leave any contributor free to move, in words an operator can
        act on: said at start-up, by `modelgate policies check` and GET /policies. A deploy
        pipeline that resolves ``models:/NAME@ALIAS`` follows whoever may move the alias."""
        warnings = []
        if not any(r.models == "*" and r.alias == "*" for r in self.alias_rules):
            warnings.append(
                'No alias rule covers every alias of every model (alias: "*", models: "*"): '
                "an alias no rule names may be set and moved by any contributor, and every "
                "pipeline resolving models:/NAME@ALIAS follows it without an approval."
            )
        for rule in self.alias_rules:
            if rule.alias == "*" and not rule.governed:
                warnings.append(
                    f"Alias rule {rule.name!r} ({rule.source}) leaves every alias of the "
                    f"models matching {rule.models!r} free for any contributor: a pipeline "
                    "resolving models:/NAME@ALIAS follows them without an approval."
                )
        return warnings

    def for_transition(self, model: str, from_stage: Stage, to_stage: Stage) -> Policy | None:
        """The policy governing a move of ``model`` from ``from_stage`` into ``to_stage``."""
        candidates = [
            p
            for p in self.policies
            if p.stage is to_stage
            and (p.from_stages is None or from_stage in p.from_stages)
            and globs.matches(p.models, model)
        ]
        if not candidates:
            return None
        return max(
            candidates, key=lambda p: (globs.specificity(p.models), p.from_stages is not None)
        )

    @staticmethod
    def digest_of(contents: list[tuple[str, bytes]]) -> str:
        h = hashlib.sha256()
        for name, data in sorted(contents):
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return h.hexdigest()


def parse_duration(value: object) -> dt.timedelta:
    """``30m``, ``12h``, ``7d``, ``2w`` (or a number of seconds)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return dt.timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match and int(match["n"]) > 0:
            return dt.timedelta(**{_UNITS[match["unit"]]: int(match["n"])})
    raise ValueError(f"{value!r} is not a duration like 30m, 12h, 7d or 2w")
