"""Reading policy files: YAML, validated against a schema, every error named by file and line.

An invalid policy must stop the service before it serves a single request, with a message an
operator can act on: ``policies/default.yaml:12: min_approvals: -1 is less than the minimum
of 0``. So the YAML is composed into nodes first (which remember their line), duplicate keys
are refused (PyYAML would silently keep the last), and each schema or semantic error is
mapped back to the node it is about.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema

from registry.domain import globs
from registry.domain.policy import (
    WEEKDAYS,
    AliasRule,
    FreezeWindow,
    MetricGate,
    Policy,
    PolicyError,
    PolicySet,
    TokenRules,
    parse_duration,
)
from registry.domain.principal import Role
from registry.domain.stages import Stage
from registry.domain.yaml_lines import read_yaml

SCHEMA = json.loads((Path(__file__).with_name("policy.schema.json")).read_text())
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def default_directory() -> Path:
    """``./policies`` when it exists, else the policies shipped with Modelgate."""
    local = Path.cwd() / "policies"
    if local.is_dir():
        return local
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "_policies", here.parent / "policies"):
        if candidate.is_dir():
            return candidate
    raise PolicyError("No policies found: create ./policies or set MODELGATE_POLICY_PATH.")


def policy_files(path: Path) -> list[Path]:
    """A file as given, or the ``*.yaml``/``*.yml`` files directly in a directory.

    Sub-directories are not read, so ``policies/examples/`` stays inert unless named.
    """
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise PolicyError(f"{path}: no policy files (*.yaml) in this directory.")
        return files
    raise PolicyError(f"{path}: no such policy file or directory.")


def load(path: Path | str | None = None) -> PolicySet:
    """Read and validate every policy file at ``path``; raise PolicyError on the first bad one."""
    base = Path(path) if path else default_directory()
    contents = []
    policies: list[Policy] = []
    rules: list[AliasRule] = []
    tokens: list[TokenRules] = []
    for file in policy_files(base):
        data = file.read_bytes()
        contents.append((file.name, data))
        parsed = parse_document(data, _display(file))
        policies.extend(parsed.policies)
        rules.extend(parsed.alias_rules)
        if parsed.tokens.source:
            tokens.append(parsed.tokens)
    _check_unique(policies)
    _check_unique_rules(rules)
    if len(tokens) > 1:
        raise PolicyError(
            f"{tokens[1].source}: 'tokens' is declared again (first at {tokens[0].source}); "
            "declare it in one file."
        )
    return PolicySet(
        tuple(policies),
        tuple(_display(f) for f in policy_files(base)),
        PolicySet.digest_of(contents),
        tuple(rules),
        tokens[0] if tokens else TokenRules(),
    )


def _display(file: Path) -> str:
    try:
        return str(file.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(file)


# --------------------------------------------------------------------------- parsing


def parse(data: bytes, where: str = "<policy>") -> list[Policy]:
    """The transition policies of one file."""
    return list(parse_document(data, where).policies)


def parse_document(data: bytes, where: str = "<policy>") -> PolicySet:
    """Everything one file declares: transition policies and alias rules."""
    document, lines = read_yaml(data, where)
    errors = sorted(_VALIDATOR.iter_errors(document), key=lambda e: lines.line(e.absolute_path))
    if errors:
        raise PolicyError(
            "\n".join(
                f"{where}:{lines.line(e.absolute_path)}: "
                f"{_path_text(e.absolute_path, document)}{e.message}"
                for e in errors[:10]
            )
        )
    policies = []
    for index, raw in enumerate(document["policies"]):
        path = ("policies", index)
        try:
            policies.append(_policy(raw, f"{where}:{lines.line(path)}"))
        except _FieldError as exc:
            line = lines.line((*path, *exc.path))
            where_in = _path_text((*path, *exc.path), document)
            raise PolicyError(f"{where}:{line}: {where_in}{exc}") from None
    rules = [
        _alias_rule(raw, f"{where}:{lines.line(('aliases', index))}")
        for index, raw in enumerate(document.get("aliases", []))
    ]
    token_rules = TokenRules()
    if "tokens" in document:
        token_rules = TokenRules(
            second_admin_for_roles=frozenset(
                Role(r) for r in document["tokens"].get("second_admin_for_roles", [])
            ),
            source=f"{where}:{lines.line(('tokens',))}",
        )
    return PolicySet(tuple(policies), alias_rules=tuple(rules), tokens=token_rules)


def _alias_rule(raw: dict[str, Any], source: str) -> AliasRule:
    """One alias rule. Freeing aliases is said in so many words (``free: true``), never left
    to a rule that happens to name no roles and no stage."""
    free = raw.get("free", False)
    governs = "roles" in raw or "require_stage" in raw
    if free and governs:
        raise PolicyError(
            f"{source}: alias rule {raw['name']!r}: a free rule names no roles or require_stage"
        )
    if not free and not governs:
        raise PolicyError(
            f"{source}: alias rule {raw['name']!r} needs roles, require_stage, or free: true "
            "(to let any contributor move the aliases it names)"
        )
    return AliasRule(
        name=raw["name"],
        alias=globs.validate(raw["alias"], "alias"),
        models=globs.validate(raw.get("models", "*"), "models"),
        roles=frozenset(Role(r) for r in raw["roles"]) if "roles" in raw else None,
        require_stage=Stage(raw["require_stage"]) if "require_stage" in raw else None,
        free=free,
        source=source,
    )


def _path_text(path: Iterable[Any], document: Any) -> str:
    """``policy 'prod': gates.metrics.0: `` rather than ``policies.3.gates.metrics.0: ``."""
    parts = list(path)
    prefix = ""
    if len(parts) >= 2 and parts[0] == "policies" and isinstance(parts[1], int):
        item = document["policies"][parts[1]] if isinstance(document, dict) else None
        name = item.get("name") if isinstance(item, dict) else None
        prefix = f"policy {name!r}: " if isinstance(name, str) else f"policy #{parts[1] + 1}: "
        parts = parts[2:]
    rest = ".".join(str(p) for p in parts)
    return prefix + (f"{rest}: " if rest else "")


class _FieldError(ValueError):
    def __init__(self, path: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _policy(raw: dict[str, Any], source: str) -> Policy:
    stage = Stage(raw["stage"])
    models = raw.get("models", "*")
    from_raw = raw.get("from")
    from_stages = None
    if from_raw is not None:
        from_stages = frozenset(
            Stage(s) for s in ([from_raw] if isinstance(from_raw, str) else from_raw)
        )
        if stage in from_stages:
            raise _FieldError(("from",), f"a move from {stage.value} into itself never happens")
    archive = raw.get("archive_existing_versions", False)
    exclusive = raw.get("exclusive", False)
    if (archive or exclusive) and not stage.is_active:
        field = "archive_existing_versions" if archive else "exclusive"
        raise _FieldError((field,), f"applies only to Staging and Production, not {stage.value}")
    expire_after = None
    if "expire_after" in raw:
        try:
            expire_after = parse_duration(raw["expire_after"])
        except ValueError as exc:
            raise _FieldError(("expire_after",), str(exc)) from None
    gates = raw.get("gates", {})
    metrics = []
    for i, expression in enumerate(gates.get("metrics", [])):
        try:
            metrics.append(MetricGate.parse(expression))
        except ValueError as exc:
            raise _FieldError(("gates", "metrics", i), str(exc)) from None
    required_tags = {
        key: None if allowed is None else tuple([allowed] if isinstance(allowed, str) else allowed)
        for key, allowed in gates.get("required_tags", {}).items()
    }
    schemes = gates.get("source_schemes")
    return Policy(
        name=raw["name"],
        stage=stage,
        models=globs.validate(models, "models"),
        from_stages=from_stages,
        min_approvals=raw.get("min_approvals", 0),
        approver_roles=frozenset(Role(r) for r in raw.get("approver_roles", ["approver"])),
        forbid_self_approval=raw.get("forbid_self_approval", False),
        archive_existing_versions=archive,
        exclusive=exclusive,
        expire_after=expire_after,
        required_tags=required_tags,
        require_description=gates.get("require_description", False),
        metrics=tuple(metrics),
        source_schemes=frozenset(schemes) if schemes else None,
        require_digest=gates.get("require_digest", False),
        freeze=tuple(_freeze(w, ("freeze", i)) for i, w in enumerate(raw.get("freeze", []))),
        source=source,
    )


def _freeze(raw: dict[str, Any], path: tuple[Any, ...]) -> FreezeWindow:
    timezone = raw.get("timezone", "UTC")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _FieldError((*path, "timezone"), f"unknown time zone {timezone!r}") from None
    if "days" in raw:
        days = frozenset(WEEKDAYS.index(d) for d in raw["days"])
        times = [raw.get("from"), raw.get("until")]
        if (times[0] is None) != (times[1] is None):
            raise _FieldError(path, "a weekly window needs both 'from' and 'until', or neither")
        parsed = [
            _clock(t, (*path, k)) if t is not None else None
            for t, k in zip(times, ("from", "until"), strict=True)
        ]
        return FreezeWindow(
            raw["name"], timezone, days=days, from_time=parsed[0], until_time=parsed[1]
        )
    if "from" not in raw or "until" not in raw:
        raise _FieldError(path, "a freeze window needs 'days' (weekly) or 'from' and 'until'")
    start = _instant(raw["from"], zone, (*path, "from"))
    end = _instant(raw["until"], zone, (*path, "until"), end_of_day=True)
    if end <= start:
        raise _FieldError((*path, "until"), "'until' must be after 'from'")
    return FreezeWindow(raw["name"], timezone, start=start, end=end)


def _clock(value: str, path: tuple[Any, ...]) -> dt.time:
    if value == "24:00":  # the end of the day, so "until 24:00" leaves no minute open
        return dt.time.max
    try:
        return dt.time.fromisoformat(value)
    except (TypeError, ValueError):
        raise _FieldError(path, f"{value!r} is not a time of day like '18:00'") from None


def _instant(
    value: str, zone: ZoneInfo, path: tuple[Any, ...], end_of_day: bool = False
) -> dt.datetime:
    """A date (a whole day in the window's zone; as 'until', the day is included) or a time."""
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end_of_day else 0)
            return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _FieldError(
            path, f"{value!r} is not a date (2026-12-24) or a time (2026-12-24T18:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC)


def _check_unique(policies: list[Policy]) -> None:
    names: dict[str, Policy] = {}
    scopes: dict[tuple[Stage, frozenset[Stage] | None, str], Policy] = {}
    _check_ambiguity(policies)
    for policy in policies:
        if policy.name in names:
            raise PolicyError(
                f"{policy.source}: policy name {policy.name!r} is already used at "
                f"{names[policy.name].source}"
            )
        names[policy.name] = policy
        scope = (policy.stage, policy.from_stages, policy.models)
        if scope in scopes:
            raise PolicyError(
                f"{policy.source}: policy {policy.name!r} governs the same moves "
                f"(into {policy.stage.value}, models {policy.models!r}) as "
                f"{scopes[scope].name!r} at {scopes[scope].source}; one would never apply"
            )
        scopes[scope] = policy


def _check_ambiguity(policies: list[Policy]) -> None:
    """Refuse two policies that could claim the same move with nothing to choose between
    them (equally specific globs that overlap, for overlapping source stages): otherwise the
    winner would depend on the order of files."""
    for i, a in enumerate(policies):
        for b in policies[i + 1 :]:
            if a.stage is not b.stage or a.models == b.models:
                continue  # the exact-duplicate case has its own message
            if globs.specificity(a.models) != globs.specificity(b.models):
                continue
            if (a.from_stages is None) != (b.from_stages is None):
                continue  # the one naming a source stage wins
            if a.from_stages is not None and not a.from_stages & b.from_stages:
                continue
            if globs.may_overlap(a.models, b.models):
                raise PolicyError(
                    f"{b.source}: policy {b.name!r} ({b.models!r}) and {a.name!r} "
                    f"({a.models!r}, at {a.source}) can both govern the same model's move "
                    f"into {a.stage.value} and neither is more specific; make one glob "
                    "narrower or merge them."
                )


def _check_unique_rules(rules: list[AliasRule]) -> None:
    seen: dict[object, AliasRule] = {}
    for rule in rules:
        for key, what in (
            (("name", rule.name), "name"),
            (("scope", rule.models, rule.alias), "scope"),
        ):
            if key in seen:
                other = seen[key]
                raise PolicyError(
                    f"{rule.source}: alias rule {rule.name!r} repeats the {what} of "
                    f"{other.name!r} at {other.source}"
                )
            seen[key] = rule
