"""Whose approval counts: the self-approval and distinct-person rule, in one place.

Approvals are counted by person, not by token: another token of the same owner is the same
person. An approval does not count when it is the requester's own and the governing policy
forbids self-approval, or when its person has approved the request already.
:func:`why_not_counted` is the rule; filing (does the requester's own approval count?),
approving (refuse one that would not count), the quorum (:func:`count_approvals`), the
actions a caller is offered and the console's checklist all ask it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import StrEnum

from registry.domain import policy
from registry.domain.policy import Policy
from registry.domain.principal import Principal
from registry.domain.stages import Stage
from registry.orm import TransitionRequest


class NotCounted(StrEnum):
    """Why an approval does not count (the name of the failed check)."""

    SELF_APPROVAL = "self_approval"
    DISTINCT_APPROVERS = "distinct_approvers"


def why_not_counted(
    governing: Policy, person: str, *, requester: str, earlier: Collection[str] = ()
) -> NotCounted | None:
    """None when an approval by ``person`` counts toward ``governing``'s quorum on a
    request filed by the person ``requester``, given the people who approved it
    ``earlier``; otherwise why it does not."""
    if governing.forbid_self_approval and is_requester(person, requester):
        return NotCounted.SELF_APPROVAL
    if person in earlier:
        return NotCounted.DISTINCT_APPROVERS
    return None


def count_approvals(governing: Policy, requester: str, people: Iterable[str]) -> int:
    """How many of the approvals (by ``people``, in the order given) count."""
    counted, seen = 0, set()
    for person in people:
        if why_not_counted(governing, person, requester=requester, earlier=seen) is None:
            counted += 1
        seen.add(person)
    return counted


def is_requester(person: str, requester: str) -> bool:
    """Whose request it is is a question about people: any token of the requester's owner."""
    return person == requester


def counted(req: TransitionRequest, governing: Policy) -> int:
    """How many of the request's approvals count toward ``governing``'s quorum."""
    return count_approvals(governing, req.requested_by_person, (a.person for a in req.approvals))


def own_approval_counts(
    principal: Principal, governing: Policy, model: str, from_stage: Stage
) -> bool:
    """Whether filing a request counts as the requester's own approval: when they are an
    eligible approver and their approval of their own request would count."""
    return policy.is_eligible_approver(principal, governing, model, from_stage) and (
        why_not_counted(governing, principal.person, requester=principal.person) is None
    )


def rule_note(governing: Policy) -> str:
    """The rule in a few words, for a checklist: who is left out of the count."""
    return " (not the requester)" if governing.forbid_self_approval else ""
