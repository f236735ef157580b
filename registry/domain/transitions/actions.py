"""What a caller may do with a request now: approve, reject, cancel (as Databricks shows)."""

from __future__ import annotations

from registry.domain import permissions, policy
from registry.domain.permissions import Action
from registry.domain.policy import PolicySet
from registry.domain.principal import Principal
from registry.domain.stages import Stage
from registry.domain.transitions.info import TransitionInfo
from registry.domain.transitions.quorum import is_requester, why_not_counted
from registry.domain.transitions.states import RequestState


def available_actions(principal: Principal, policies: PolicySet, info: TransitionInfo) -> list[str]:
    """Approve when the caller is an eligible approver whose approval would count
    (:mod:`registry.domain.transitions.quorum`), reject when eligible and not the requester,
    cancel when :func:`may_cancel`.

    Whose request it is, and who approved it, are questions about people: another token of
    the requester's owner is the requester."""
    if info.state != RequestState.PENDING:
        return []
    actions = []
    from_stage = Stage(info.from_stage)
    own = is_requester(principal.person, info.requested_by_person)
    governing = policies.for_transition(info.name, from_stage, Stage(info.to_stage))
    if governing is not None and policy.is_eligible_approver(
        principal, governing, info.name, from_stage
    ):
        refused = why_not_counted(
            governing,
            principal.person,
            requester=info.requested_by_person,
            earlier={a.person for a in info.approvals},
        )
        if refused is None:
            actions.append("approve")
        if not own:
            actions.append("reject")
    if may_cancel(principal, own, info.name):
        actions.append("cancel")
    return actions


def may_cancel(principal: Principal, own: bool, model: str) -> bool:
    """The requester (with any of their tokens that may file requests) or a manager."""
    return (own and permissions.can(principal, Action.REQUEST_TRANSITION, model)) or (
        permissions.can(principal, Action.MANAGE, model)
    )
