"""The four stages and the one table of moves allowed between them."""

from __future__ import annotations

from enum import StrEnum

from registry.domain.errors import InvalidArgument, InvalidTransition


class Stage(StrEnum):
    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def parse(cls, value: object) -> Stage:
        """Map any capitalisation of a stage name onto the canonical one."""
        if isinstance(value, str):
            found = _BY_LOWER.get(value.strip().lower())
            if found is not None:
                return found
        raise InvalidArgument(
            f"Unknown stage {value!r}; expected one of {', '.join(s.value for s in cls)}.",
            field="stage",
        )

    @property
    def is_active(self) -> bool:
        """Staging and Production are where versions serve; only they archive incumbents."""
        return self in (Stage.STAGING, Stage.PRODUCTION)


_BY_LOWER = {s.value.lower(): s for s in Stage}

# Every move the registry allows. Leaving Production goes through Archived or back to
# Staging (a demotion); "None" means "never placed", so nothing returns there from Production.
# An archived version may come back anywhere: that is how a rollback is done.
ALLOWED_MOVES: dict[Stage, frozenset[Stage]] = {
    Stage.NONE: frozenset({Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED}),
    Stage.STAGING: frozenset({Stage.NONE, Stage.PRODUCTION, Stage.ARCHIVED}),
    Stage.PRODUCTION: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.ARCHIVED: frozenset({Stage.NONE, Stage.STAGING, Stage.PRODUCTION}),
}


def move_problem(from_stage: Stage, to_stage: Stage) -> dict[str, object] | None:
    """Why the table refuses ``from_stage -> to_stage`` (None when it allows it)."""
    if to_stage in ALLOWED_MOVES[from_stage]:
        return None
    if from_stage == to_stage:
        message = f"The version is already in {to_stage.value}."
    else:
        message = f"A version in {from_stage.value} cannot move to {to_stage.value}."
    return {
        "check": "stage_move",
        "from_stage": from_stage.value,
        "to_stage": to_stage.value,
        "allowed": sorted(s.value for s in ALLOWED_MOVES[from_stage]),
        "message": message,
    }


def require_move(from_stage: Stage, to_stage: Stage) -> None:
    """Raise InvalidTransition unless the table allows ``from_stage -> to_stage``."""
    problem = move_problem(from_stage, to_stage)
    if problem is not None:
        details = {k: v for k, v in problem.items() if k not in ("check", "message")}
        raise InvalidTransition(str(problem["message"]), **details)
