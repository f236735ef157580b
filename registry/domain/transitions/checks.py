"""What a transition must pass, when it is filed and again when it is applied.

The governing policy's gates (:func:`registry.domain.policy.check_gates`: tags, description,
metrics, source, digest), its freeze windows (but those an admin broke the glass on), the
stage's exclusivity, and, before a move into Staging or Production is applied, the version's
files against their digest. Each failure is a :data:`registry.domain.policy.Check`; callers
collect them all and refuse with every one (PolicyViolation).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import artifacts, policy, readmodels
from registry.domain.errors import InvalidArgument, PolicyViolation
from registry.domain.policy import Check, Policy, PolicySet
from registry.domain.stages import Stage
from registry.orm import ModelVersion, RegisteredModel


def facts_of(session: Session, row: ModelVersion, model_name: str) -> policy.Facts:
    info = readmodels.version_info(session, row.id)
    return policy.Facts(
        model=model_name,
        version=row.version,
        tags=info.tags,
        description=info.description,
        source=info.source,
        digest=info.digest,
    )


def incumbents(
    session: Session, model_id: int, stage: Stage, exclude_id: int, lock: bool = False
) -> list[ModelVersion]:
    stmt = (
        sa.select(ModelVersion)
        .where(
            ModelVersion.model_id == model_id,
            ModelVersion.stage == stage.value,
            ModelVersion.id != exclude_id,
        )
        .order_by(ModelVersion.version)
    )
    if lock:
        stmt = stmt.with_for_update()
    return list(session.execute(stmt).scalars())


def policy_checks(
    session: Session,
    governing: Policy,
    model: RegisteredModel,
    row: ModelVersion,
    archive: bool,
    overridden: frozenset[str],
    now: dt.datetime,
) -> list[Check]:
    """Gates, freeze windows (but those an admin broke the glass on) and stage exclusivity:
    what a request must pass when it is made and again when it is applied."""
    failed = policy.check_gates(governing, facts_of(session, row, model.name))
    failed += policy.check_freeze(governing, now, overridden)
    if governing.exclusive and not archive:
        holders = incumbents(session, model.id, governing.stage, row.id)
        if holders:
            listed = ", ".join(str(v.version) for v in holders)
            failed.append(
                {
                    "check": "exclusive_stage",
                    "policy": governing.name,
                    "holders": [v.version for v in holders],
                    "message": f"{governing.stage.value} holds one version at a time and already "
                    f"holds version {listed}; archive it (archive_existing_versions) "
                    "or move it first.",
                }
            )
    return failed


def governing_policy(policies: PolicySet, model: str, from_stage: Stage, to_stage: Stage) -> Policy:
    found = policies.for_transition(model, from_stage, to_stage)
    if found is None:
        check = policy.no_policy(model, from_stage, to_stage)
        raise PolicyViolation(
            check["message"], failed_checks=[check], context={"to_stage": to_stage.value}
        )
    return found


def archive_flag(to_stage: Stage, archive: bool | None, governing: Policy | None) -> bool:
    if archive and not to_stage.is_active:
        raise InvalidArgument(
            "archive_existing_versions applies only to transitions into Staging or Production.",
            field="archive_existing_versions",
        )
    if archive is None:
        return bool(governing and governing.archive_existing_versions)
    return archive


def violation_message(governing: Policy, failed: list[Check]) -> str:
    first = failed[0]["message"]
    more = f" ({len(failed) - 1} more check(s) failed.)" if len(failed) > 1 else ""
    return f"Policy {governing.name!r} refuses this transition: {first}{more}"


def digest_recheck(session: Session, row: ModelVersion) -> list[Check]:
    """The version's files in the artifact store against its digest, hashed again now: one
    failed check when they differ, none when they match or the version has no manifest."""
    return artifacts.recheck(session, row)
