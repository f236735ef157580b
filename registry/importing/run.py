"""One import run: read models from the source concurrently, write each in its own transaction.

Reading is the slow part, so the listed models are read in batches, each batch's versions
with one search (fewer round trips: 1,000 models are about 20 searches, not 1,000), and up to
``concurrency`` batches at once, in a bounded window: memory holds a few batches, whatever
the size of the source. Writing stays on the caller's session, one model at a time,
committing each model's changes and its audit events together. A model that fails is rolled
back and counted; the run goes on.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from registry.domain import imports
from registry.domain.errors import DomainError
from registry.domain.imports import Outcome, SourceModel
from registry.domain.policy import PolicySet
from registry.domain.principal import Principal
from registry.importing.mlflow_source import MlflowSource, SourceError, is_prompt

# One versions search covers this many models (MLflow's `name IN (...)`); the names must also
# fit a URL comfortably, whatever their length.
BATCH_MODELS = 50
BATCH_CHARS = 3000

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Summary:
    models: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    held: int = 0  # models with a move at the source held back (skipped, or refused here)
    conflicts: int = 0  # models with at least one conflict
    errors: int = 0
    versions: int = 0
    stages: int = 0
    requests: int = 0  # transition requests filed for moves at the source, pending
    held_moves: int = 0
    aliases: int = 0
    tags: int = 0
    descriptions: int = 0

    def add(self, outcome: Outcome) -> None:
        self.models += 1
        counter = {
            "created": "created",
            "updated": "updated",
            "unchanged": "unchanged",
            "skipped": "skipped",
            "held": "held",
            "conflict": "conflicts",
            "failed": "errors",
        }[outcome.action]
        setattr(self, counter, getattr(self, counter) + 1)
        for name in ("versions", "stages", "requests", "aliases", "tags", "descriptions"):
            setattr(self, name, getattr(self, name) + getattr(outcome, name))
        self.held_moves += len(outcome.held)
        if outcome.held and outcome.action not in ("held", "failed"):
            self.held += 1  # counted once, with its other verdict (a conflict, say)


def run(
    session: Session,
    principal: Principal,
    source: MlflowSource,
    *,
    policies: PolicySet,
    glob: str | None = None,
    sync: bool = False,
    source_moves: str = "request",
    dry_run: bool = False,
    concurrency: int = 4,
    report: Callable[[Outcome], None] = lambda outcome: None,
) -> Summary:
    """Import every model of ``source`` matching ``glob``; ``report`` hears of each model as
    it is done. Raises SourceError (fatal) when the source cannot be listed at all."""
    summary = Summary()

    def finish(outcome: Outcome) -> None:
        summary.add(outcome)
        report(outcome)

    def write(name: str, fetched: SourceModel | Exception) -> None:
        try:
            if isinstance(fetched, Exception):
                raise fetched
            outcome = imports.import_model(
                session,
                principal,
                source.url,
                fetched,
                sync=sync,
                policies=policies,
                source_moves=source_moves,
            )
            if dry_run:
                session.rollback()
            else:
                session.commit()
        except SourceError as exc:
            session.rollback()
            if exc.fatal:
                raise
            outcome = Outcome(name, action="failed", error=exc.message)
        except DomainError as exc:
            session.rollback()
            outcome = Outcome(name, action="failed", error=exc.message)
        except SQLAlchemyError as exc:
            session.rollback()
            outcome = Outcome(name, action="failed", error=f"database: {exc}".splitlines()[0])
        except Exception as exc:  # a fault of ours with one model must not stop the others
            log.exception("importing %s failed", name)
            session.rollback()
            outcome = Outcome(name, action="failed", error=f"{type(exc).__name__}: {exc}")
        finish(outcome)

    def drain(batch: concurrent.futures.Future[list[Fetched]]) -> None:
        for name, fetched in batch.result():
            write(name, fetched)

    window: collections.deque[concurrent.futures.Future[list[Fetched]]] = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        try:
            for batch in _batches(source.models(glob), finish):
                window.append(pool.submit(fetch_batch, source, batch))
                while len(window) >= 2 * concurrency:
                    drain(window.popleft())
            while window:
                drain(window.popleft())
        finally:
            for pending in window:
                pending.cancel()
    return summary


Fetched = tuple[str, SourceModel | Exception]


def _batches(
    messages: Iterable[dict[str, Any]], finish: Callable[[Outcome], None]
) -> Iterator[list[dict[str, Any]]]:
    """The listed models in batches small enough for one versions search (a filter of at
    most BATCH_MODELS names, BATCH_CHARS characters); prompts are skipped on the way."""
    batch: list[dict[str, Any]] = []
    size = 0
    for message in messages:
        name = str(message.get("name"))
        if is_prompt(message):
            finish(Outcome(name, action="skipped", notes=["an MLflow prompt, not a model"]))
            continue
        if batch and (len(batch) >= BATCH_MODELS or size + len(name) > BATCH_CHARS):
            yield batch
            batch, size = [], 0
        batch.append(message)
        size += len(name) + 4
    if batch:
        yield batch


def fetch_batch(source: MlflowSource, batch: list[dict[str, Any]]) -> list[Fetched]:
    """Read a batch of models, their versions with one search; if the source refuses that
    search, model by model, so that one model's trouble stays its own."""
    names = [str(m.get("name")) for m in batch]
    try:
        found: dict[str, list[dict[str, Any]]] = source.versions_of(names)
    except SourceError as exc:
        if exc.fatal:
            raise
        found = {}
    fetched: list[Fetched] = []
    for name, message in zip(names, batch, strict=True):
        try:
            fetched.append((name, source.fetch(message, found.get(name))))
        except SourceError as exc:
            if exc.fatal:
                raise
            fetched.append((name, exc))
        except DomainError as exc:
            fetched.append((name, exc))
    return fetched
