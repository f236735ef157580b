"""The second-admin rule: grants of a governed role, or made for someone else, wait for an
admin other than the people who made or receive them. The operator's CLI never waits.
"""

from __future__ import annotations

from collections.abc import Iterable

from registry.domain.errors import PolicyViolation
from registry.domain.policy import TokenRules
from registry.domain.principal import Principal, Role


def second_admin_reasons(
    principal: Principal, roles: Iterable[Role], owner: str, rules: TokenRules
) -> list[str]:
    """Why a grant made by ``principal`` must wait for a second admin (none: it need not).

    The operator (the CLI, the root of trust) never waits."""
    if principal.kind == "system":
        return []
    reasons = [f"role:{role.value}" for role in rules.governs(roles)]
    if owner != principal.person:
        reasons.append("owner")
    return reasons


def require_second_admin(principal: Principal, what: str, excluded: set[str]) -> None:
    if principal.kind == "system" or principal.person not in excluded:
        return
    check = {
        "check": "second_admin",
        "person": principal.person,
        "message": f"{what} needs an admin other than the person who made it or receives it "
        f"({', '.join(sorted(excluded))}); {principal.id} acts for {principal.person}.",
    }
    raise PolicyViolation(
        f"{what[0].upper()}{what[1:]} needs a second admin's approval: {check['message']}",
        failed_checks=[check],
    )
