"""What each role may do, in one table, and the checks every entry point shares.

Deny by default: an action is allowed only if one of the principal's grants both covers the
action and matches the model. Reads of a model the caller cannot see answer NotFound rather
than PermissionDenied, so the existence of a name does not leak.
"""

from __future__ import annotations

from enum import StrEnum

from registry.domain import globs
from registry.domain.errors import NotFound, PermissionDenied
from registry.domain.principal import Principal, Role


class Action(StrEnum):
    READ = "read"  # models, versions, resolution, requests, comments, policies
    CREATE_MODEL = "create_model"
    WRITE = "write"  # register versions, descriptions, tags, aliases, comments
    REQUEST_TRANSITION = "request_transition"
    COMMENT = "comment"  # comment on versions and requests
    APPROVE = "approve"  # approve or reject a transition request (per stage)
    MANAGE = "manage"  # rename and delete models, delete versions, cancel others' requests
    BREAK_GLASS = "break_glass"  # override a freeze window, with a justification
    READ_AUDIT = "read_audit"
    ADMIN = "admin"  # tokens, role bindings, webhooks, break-glass


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.READ}),
    Role.CONTRIBUTOR: frozenset(
        {Action.READ, Action.CREATE_MODEL, Action.WRITE, Action.REQUEST_TRANSITION, Action.COMMENT}
    ),
    Role.APPROVER: frozenset({Action.READ, Action.APPROVE, Action.COMMENT}),
    Role.AUDITOR: frozenset({Action.READ, Action.READ_AUDIT}),
    Role.ADMIN: frozenset(Action),
}

# Actions that are about the registry as a whole; only grants on every model ("*") carry them.
GLOBAL_ACTIONS = frozenset({Action.READ_AUDIT, Action.ADMIN})


def can(principal: Principal, action: Action, model: str | None = None) -> bool:
    """True if some grant of ``principal`` allows ``action`` on ``model``.

    With ``model`` None the question is "on any model at all?", except for the global
    actions, which need a grant on "*". Whether an approver may approve a particular move
    (its stages, the policy's roles) is the policy's question:
    :func:`registry.domain.policy.is_eligible_approver`.
    """
    for grant in principal.grants:
        if action not in ROLE_ACTIONS[grant.role]:
            continue
        if action in GLOBAL_ACTIONS and grant.model_pattern != "*":
            continue
        if model is not None and not globs.matches(grant.model_pattern, model):
            continue
        return True
    return False


def require(
    principal: Principal, action: Action, model: str | None = None, *, hide: bool = True
) -> None:
    """Raise unless allowed: NotFound if the model is invisible to the caller (``hide``),
    PermissionDenied otherwise."""
    if can(principal, action, model):
        return
    if hide and model is not None and not can(principal, Action.READ, model):
        # The caller learns nothing; the record (registry.domain.refusals) still tells an
        # auditor that someone tried to act outside their grants.
        raise NotFound(
            f"Registered model {model!r} not found.",
            reason="outside_grants",
            context={"action": action.value},
        )
    what = f" on {model!r}" if model is not None else ""
    raise PermissionDenied(
        f"{principal.id} may not {action.value.replace('_', ' ')}{what}.",
        reason="role",
        action=action.value,
    )


def readable_patterns(principal: Principal) -> list[str] | None:
    """Globs of the models the principal may read; None when it may read every model."""
    patterns = [g.model_pattern for g in principal.grants if Action.READ in ROLE_ACTIONS[g.role]]
    if "*" in patterns:
        return None
    return sorted(set(patterns))
