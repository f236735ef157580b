"""The console's checklist for a request: every check its policy makes, passed or failed now."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from registry.domain import policy
from registry.domain.policy import Check, PolicySet
from registry.domain.principal import Principal
from registry.domain.stages import Stage
from registry.domain.transitions.breakglass import overridden_windows
from registry.domain.transitions.checks import policy_checks
from registry.domain.transitions.queries import get_request
from registry.domain.transitions.quorum import counted, rule_note
from registry.orm import ModelVersion, RegisteredModel, TransitionRequest
from registry.orm.base import utcnow


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One thing the governing policy checks, and whether the request passes it now."""

    check: str
    label: str
    passed: bool
    message: str | None = None


def _matching(failed: list[Check], kind: str, **fields: Any) -> Check | None:
    for item in failed:
        if item["check"] == kind and all(item.get(k) == v for k, v in fields.items()):
            return item
    return None


def request_checks(
    session: Session,
    principal: Principal,
    policies: PolicySet,
    request_id: int,
    now: dt.datetime | None = None,
) -> list[CheckResult]:
    """Every check the policy governing a request makes, passed or failed as things stand.

    The failures come from the very checks :func:`approve` runs before applying (gates,
    freeze windows, stage exclusivity); the passes are the rest of what the policy lists,
    and the quorum comes last. Raises NotFound when the caller cannot see the request.
    """
    now = now or utcnow()
    info = get_request(session, principal, policies, request_id, now)
    from_stage = Stage(info.from_stage)
    governing = policies.for_transition(info.name, from_stage, Stage(info.to_stage))
    if governing is None:
        check = policy.no_policy(info.name, from_stage, Stage(info.to_stage))
        return [CheckResult("no_policy", "A policy governs this move", False, check["message"])]
    req = session.get(TransitionRequest, info.id)
    assert req is not None  # get_request found it
    model = session.get(RegisteredModel, req.model_id)
    row = session.get(ModelVersion, req.version_id)
    assert model is not None  # the foreign keys guarantee both
    assert row is not None
    failed = policy_checks(
        session,
        governing,
        model,
        row,
        req.archive_existing_versions,
        overridden_windows(req, now),
        now,
    )
    results: list[tuple[str, str, Check | None]] = []
    for key, allowed in governing.required_tags.items():
        wanted = f" in {', '.join(allowed)}" if allowed else ""
        results.append(
            ("required_tag", f"Tag {key}{wanted}", _matching(failed, "required_tag", key=key))
        )
    if governing.require_description:
        results.append(
            ("required_description", "Has a description", _matching(failed, "required_description"))
        )
    for gate in governing.metrics:
        results.append(
            ("metric", gate.expression, _matching(failed, "metric", expression=gate.expression))
        )
    if governing.source_schemes is not None:
        schemes = ", ".join(sorted(governing.source_schemes))
        results.append(
            ("source_scheme", f"Source is {schemes}", _matching(failed, "source_scheme"))
        )
    if governing.require_digest:
        results.append(("digest", "Has a digest of its files", _matching(failed, "digest")))
    for window in governing.freeze:
        results.append(
            (
                "freeze",
                f"Not frozen ({window.name}: {window.describe()})",
                _matching(failed, "freeze", window=window.name),
            )
        )
    if governing.exclusive:
        label = f"{governing.stage.value} holds one version" + (
            " (the incumbent is archived)" if req.archive_existing_versions else ""
        )
        results.append(("exclusive_stage", label, _matching(failed, "exclusive_stage")))
    checks = [
        CheckResult(kind, label, problem is None, problem["message"] if problem else None)
        for kind, label, problem in results
    ]
    approved = counted(req, governing)
    who = ", ".join(sorted(r.value for r in governing.approver_roles))
    checks.append(
        CheckResult(
            "approvals",
            f"{approved} of {governing.min_approvals} approval(s) from: {who}"
            + rule_note(governing),
            approved >= governing.min_approvals,
        )
    )
    return checks
