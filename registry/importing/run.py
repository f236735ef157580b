"""One import run: read models from the source concurrently, write each in its own transaction.

Reading is the slow part (one or more HTTP calls per model), so up to ``concurrency`` models
are fetched at once, in a bounded window: memory holds at most twice that many models,
whatever the size of the source. Writing stays on the caller's session, one model at a time,
committing each model's changes and its audit events together. A model that fails is rolled
back and counted; the run goes on.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from registry.domain import imports
from registry.domain.errors import DomainError
from registry.domain.imports import Outcome
from registry.domain.principal import Principal
from registry.importing.mlflow_source import MlflowSource, SourceError, is_prompt

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Summary:
    models: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    conflicts: int = 0  # models with at least one conflict
    errors: int = 0
    versions: int = 0
    stages: int = 0
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
            "conflict": "conflicts",
            "failed": "errors",
        }[outcome.action]
        setattr(self, counter, getattr(self, counter) + 1)
        for name in ("versions", "stages", "aliases", "tags", "descriptions"):
            setattr(self, name, getattr(self, name) + getattr(outcome, name))


def run(
    session: Session,
    principal: Principal,
    source: MlflowSource,
    *,
    glob: str | None = None,
    sync: bool = False,
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

    def write(name: str, fetched: concurrent.futures.Future[Any]) -> None:
        try:
            item = fetched.result()
            outcome = imports.import_model(session, principal, source.url, item, sync=sync)
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

    window: collections.deque[tuple[str, concurrent.futures.Future[Any]]] = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        try:
            for message in source.models(glob):
                name = str(message.get("name"))
                if is_prompt(message):
                    finish(Outcome(name, action="skipped", notes=["an MLflow prompt, not a model"]))
                    continue
                window.append((name, pool.submit(source.fetch, message)))
                while len(window) >= 2 * concurrency:
                    write(*window.popleft())
            while window:
                write(*window.popleft())
        finally:
            for _, pending in window:
                pending.cancel()
    return summary
