"""Grants as the API and the tables hold them, and who counts as a person or a subject."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from registry.domain import globs, validation
from registry.domain.errors import InvalidArgument
from registry.domain.principal import Grant, Role
from registry.domain.stages import Stage

# The states of tokens and bindings that a second admin must approve before they work.
ACTIVE = "active"
PENDING = "pending"
_SUBJECT = re.compile(r"^(user|group|service):(.+)$")
# A person: someone your identity provider names (user:<sub>), or an operator (system:<name>).
_PERSON = re.compile(r"^(user|system):\S(?:.*\S)?$")


def make_grants(
    roles: Iterable[object], model_pattern: object = "*", stages: Iterable[object] | None = None
) -> list[Grant]:
    """Grants from the API's (roles, model_pattern, stages) triple, validated."""
    role_list = list(roles) if not isinstance(roles, str | bytes) else None
    if not role_list:
        raise InvalidArgument("roles must be a non-empty list of role names.", field="roles")
    try:
        parsed = sorted({Role(r) for r in role_list}, key=lambda r: r.value)
    except ValueError:
        raise InvalidArgument(
            f"roles must be among {', '.join(r.value for r in Role)}.", field="roles"
        ) from None
    pattern = globs.validate(model_pattern, "model_pattern")
    stage_set = None
    if stages is not None:
        stage_set = frozenset(Stage.parse(s) for s in stages)
        if not stage_set:
            raise InvalidArgument(
                "stages, when given, must name at least one stage.", field="stages"
            )
        if Role.APPROVER not in parsed:
            raise InvalidArgument(
                "stages narrow an approver grant; add the approver role.", field="stages"
            )
    return [Grant(role, pattern, stage_set if role is Role.APPROVER else None) for role in parsed]


def grant_to_dict(grant: Grant) -> dict[str, Any]:
    return {
        "role": grant.role.value,
        "model_pattern": grant.model_pattern,
        "stages": sorted(s.value for s in grant.stages) if grant.stages is not None else None,
    }


def grant_from_dict(data: dict[str, Any]) -> Grant:
    stages = data.get("stages")
    return Grant(
        Role(data["role"]),
        data.get("model_pattern", "*"),
        frozenset(Stage(s) for s in stages) if stages is not None else None,
    )


def check_person(value: object, field: str = "owner") -> str:
    """A person's id, as four-eyes rules compare them."""
    text = validation.optional_text(value, field, 256)
    if text is None or not _PERSON.match(text):
        raise InvalidArgument(
            f"{field} must name a person: user:<subject> (as your identity provider names "
            "them, so their own sign-ins and their tokens count as one person) or "
            "system:<name> (an operator).",
            field=field,
        )
    return text


def check_subject(subject: object) -> str:
    text = validation.optional_text(subject, "subject", 300)
    match = _SUBJECT.match(text or "")
    if not match or not match.group(2).strip():
        raise InvalidArgument(
            "subject must be user:<subject>, group:<name> or service:<name>.", field="subject"
        )
    return text  # type: ignore[return-value]
