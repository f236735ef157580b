"""Who is acting: a subject with its grants, however it was authenticated."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from registry.domain.stages import Stage


class Role(StrEnum):
    VIEWER = "viewer"
    CONTRIBUTOR = "contributor"
    APPROVER = "approver"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Grant:
    """A role on the models whose names match ``model_pattern``.

    ``stages`` narrows an approver grant to moves that touch only those stages (see
    ``policy.is_eligible_approver``); None means every stage.
    """

    role: Role
    model_pattern: str = "*"
    stages: frozenset[Stage] | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``id`` names the credential's holder as the ledger records it
    (``service:deploy-bot``); ``person`` names the human who answers for it, which is what
    four-eyes rules compare: a service token's owner, a user's own id, the operator's
    ``system:<name>``. One person minting several tokens is still one person."""

    subject: str
    kind: str  # "user", "service", or "system" for the CLI and workers
    grants: tuple[Grant, ...] = ()
    groups: tuple[str, ...] = ()
    token_id: int | None = field(default=None, compare=False)
    # The person a service token belongs to (its owner); users and the system are their own.
    owner: str | None = None

    @property
    def id(self) -> str:
        """The qualified identity recorded in the ledger (``requested_by``, ``by``)."""
        return f"{self.kind}:{self.subject}"

    @property
    def person(self) -> str:
        """The human behind the call, compared for self-approval and distinct approvers."""
        return self.owner or self.id

    @property
    def roles(self) -> list[str]:
        return sorted({g.role.value for g in self.grants})


def system(subject: str = "modelgate") -> Principal:
    """The principal of the CLI and background workers: the operator at the machine."""
    return Principal(subject=subject, kind="system", grants=(Grant(Role.ADMIN),))
