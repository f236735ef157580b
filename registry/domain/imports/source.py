"""What an import reads from the source: models and versions as plain data, checked before
anything is written, and the outcome reported per model."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from registry.domain import validation
from registry.domain.errors import InvalidArgument
from registry.domain.stages import Stage

STATUSES = frozenset({"READY", "PENDING_REGISTRATION", "FAILED_REGISTRATION"})


SOURCE_MOVES = ("request", "skip")  # what a stage or alias moved at the source becomes


@dataclass(frozen=True, slots=True)
class SourceVersion:
    """One version as the source holds it."""

    version: int
    source: str
    run_id: str | None = None
    run_link: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    stage: str = Stage.NONE.value
    status: str = "READY"
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    user_id: str | None = None

    def state(self) -> dict[str, Any]:
        """The fields compared between runs (times and users are history, not state)."""
        return {
            "source": self.source,
            "run_id": self.run_id,
            "run_link": self.run_link,
            "status": self.status,
            "description": self.description,
            "stage": self.stage,
            "tags": dict(self.tags),
        }


@dataclass(frozen=True, slots=True)
class SourceModel:
    """One registered model as the source holds it, with every version it still has."""

    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: tuple[SourceVersion, ...] = ()
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    user_id: str | None = None

    def state(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
        }


@dataclass(slots=True)
class Outcome:
    """What importing one model did (or, in a dry run, would do)."""

    model: str
    # created | updated | unchanged | skipped | held | conflict | failed
    action: str = "unchanged"
    versions: int = 0  # versions created
    stages: int = 0  # stage changes made (as they are, or by a policy needing no approval)
    requests: int = 0  # transition requests filed for moves at the source, now pending
    aliases: int = 0  # aliases set, moved or removed
    tags: int = 0  # tags set or removed
    descriptions: int = 0
    conflicts: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # moves at the source not made here
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def changes(self) -> int:
        return (
            self.versions
            + self.stages
            + self.requests
            + self.aliases
            + self.tags
            + self.descriptions
        )


def check_version(item: SourceVersion) -> SourceVersion:
    """The version with its fields validated as Modelgate's own API would (InvalidArgument)."""
    tags = validation.tags(item.tags)
    status = item.status if item.status in STATUSES else None
    if status is None:
        raise InvalidArgument(f"Version {item.version} has an unknown status {item.status!r}.")
    return SourceVersion(
        version=validation.version_number(item.version),
        source=validation.source(item.source),
        run_id=validation.optional_text(item.run_id, "run_id", validation.MAX_RUN_ID),
        run_link=validation.optional_text(item.run_link, "run_link", validation.MAX_RUN_LINK),
        description=validation.description(item.description),
        tags=tags,
        stage=Stage.parse(item.stage).value,
        status=status,
        created_at=item.created_at,
        updated_at=item.updated_at,
        user_id=item.user_id,
    )


def check_model(item: SourceModel) -> SourceModel:
    """The model with every field validated; InvalidArgument names the first bad one."""
    name = validation.model_name(item.name)
    versions = tuple(sorted((check_version(v) for v in item.versions), key=lambda v: v.version))
    numbers = {v.version for v in versions}
    if len(numbers) != len(versions):
        raise InvalidArgument(f"The source lists a version of {name!r} twice.")
    aliases = {validation.alias(a): validation.version_number(v) for a, v in item.aliases.items()}
    for alias, number in aliases.items():
        if number not in numbers:
            raise InvalidArgument(
                f"Alias {alias!r} points at version {number}, which the source does not list."
            )
    return SourceModel(
        name=name,
        description=validation.description(item.description),
        tags=validation.tags(item.tags),
        aliases=aliases,
        versions=versions,
        created_at=item.created_at,
        updated_at=item.updated_at,
        user_id=item.user_id,
    )
