"""Who a policy lets act: eligible approvers of a move, and who may move a governed alias."""

from __future__ import annotations

from registry.domain import globs
from registry.domain.policy.rules import AliasRule, Policy
from registry.domain.principal import Principal
from registry.domain.stages import Stage


def may_move_alias(principal: Principal, rule: AliasRule, model: str) -> bool:
    if rule.free or rule.roles is None:
        return True
    return any(
        g.role in rule.roles and globs.matches(g.model_pattern, model) for g in principal.grants
    )


def is_eligible_approver(
    principal: Principal, policy: Policy, model: str, from_stage: Stage
) -> bool:
    """May ``principal`` approve moving ``model`` from ``from_stage`` under ``policy``?

    Only grants of a role the policy lists, on this model, count. A grant narrowed to some
    stages (an approver for Staging only, say) counts for the moves governed by one of them:
    any move into or out of Production is Production's (so a Staging approver can neither
    promote a version into Production nor take one out of it), any other move touching
    Staging is Staging's, and the rest (None to Archived) belong to their target stage.
    This is Databricks' split between managing Staging and managing Production versions.
    """
    touched = {from_stage, policy.stage}
    if Stage.PRODUCTION in touched:
        governed = Stage.PRODUCTION
    elif Stage.STAGING in touched:
        governed = Stage.STAGING
    else:
        governed = policy.stage
    for grant in principal.grants:
        if grant.role not in policy.approver_roles:
            continue
        if not globs.matches(grant.model_pattern, model):
            continue
        if grant.stages is not None and governed not in grant.stages:
            continue
        return True
    return False
