"""Flood control for refusals: the first refusals per credential and minute are recorded one by
one, the rest counted into one summary event per credential and minute.

A cap per minute across all credentials bounds the individual events a process writes
however many addresses a flood comes from, and a cap on the credentials counted per minute
bounds the summaries (past it, one catch-all summary by :data:`VARIOUS`). Counts live in the
memory of each process: several processes each write their own summary (the counts add up),
and a process killed without a clean shutdown loses the counts of its open minute (what was
recorded one by one stays).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from registry.domain import events, ledger
from registry.domain.events import EventType
from registry.domain.refusals.records import Caller, Refusal

WINDOW_SECONDS = 60
# Distinct credentials counted per minute and process; past it, one catch-all summary.
MAX_COUNTERS = 1000
# How many distinct values a summary lists per field (operations, clients, actors, models).
MAX_LISTED = 20
# The actor of the catch-all summary a flood from more credentials than MAX_COUNTERS gets.
VARIOUS = Caller("various", "various")


@dataclasses.dataclass
class Summary:
    """The refusals of one credential (and event) in one minute that were counted rather
    than recorded one by one."""

    event: EventType
    actor: Caller
    credential_key: str
    window: int  # minutes since the epoch
    recorded_individually: int
    count: int = 0
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None
    first_request_id: str | None = None
    last_request_id: str | None = None
    error_codes: Counter[str] = dataclasses.field(default_factory=Counter)
    reasons: Counter[str] = dataclasses.field(default_factory=Counter)
    operations: Counter[str] = dataclasses.field(default_factory=Counter)
    clients: Counter[str] = dataclasses.field(default_factory=Counter)
    actors: Counter[str] = dataclasses.field(default_factory=Counter)
    models: Counter[str] = dataclasses.field(default_factory=Counter)
    versions: set[int | None] = dataclasses.field(default_factory=set)
    fingerprints: set[str] = dataclasses.field(default_factory=set)

    def add(self, refused: Refusal) -> None:
        self.count += 1
        if self.first_at is None:
            self.first_at, self.first_request_id = refused.at, refused.request_id
        self.last_at, self.last_request_id = refused.at, refused.request_id
        self.error_codes[refused.error_code] += 1
        self.reasons[refused.reason] += 1
        _bump(self.operations, refused.data.get("operation"))
        _bump(self.clients, refused.client)
        _bump(self.actors, refused.actor.id)
        _bump(self.models, refused.model)
        self.versions.add(refused.version)
        presented = refused.data.get("credential", {}).get("fingerprint")
        if presented and len(self.fingerprints) < MAX_COUNTERS:
            self.fingerprints.add(presented)

    def merge(self, other: Summary) -> None:
        """Fold in a summary of the same key that could not be written (retried later)."""
        self.count += other.count
        self.recorded_individually = max(self.recorded_individually, other.recorded_individually)
        if other.first_at is not None and (self.first_at is None or other.first_at < self.first_at):
            self.first_at, self.first_request_id = other.first_at, other.first_request_id
        if other.last_at is not None and (self.last_at is None or other.last_at > self.last_at):
            self.last_at, self.last_request_id = other.last_at, other.last_request_id
        for mine, theirs in (
            (self.error_codes, other.error_codes),
            (self.reasons, other.reasons),
            (self.operations, other.operations),
            (self.clients, other.clients),
            (self.actors, other.actors),
            (self.models, other.models),
        ):
            for value, n in theirs.items():
                _bump(mine, value, n)
        self.versions |= other.versions
        self.fingerprints |= set(list(other.fingerprints)[: MAX_COUNTERS - len(self.fingerprints)])

    def data(self) -> dict[str, Any]:
        start = dt.datetime.fromtimestamp(self.window * WINDOW_SECONDS, dt.UTC)
        found: dict[str, Any] = {
            "aggregated": True,
            "count": self.count,
            "recorded_individually": self.recorded_individually,
            "window_start": ledger.format_time(start),
            "window_seconds": WINDOW_SECONDS,
            "first_at": ledger.format_time(self.first_at) if self.first_at else None,
            "last_at": ledger.format_time(self.last_at) if self.last_at else None,
            "first_request_id": self.first_request_id,
            "last_request_id": self.last_request_id,
            "error_codes": dict(self.error_codes),
            "reasons": dict(self.reasons),
            "operations": dict(self.operations),
        }
        if self.clients:
            found["clients"] = dict(self.clients)
        if self.fingerprints:
            found["distinct_credentials"] = len(self.fingerprints)
        if self.actor == VARIOUS:
            found["actors"] = dict(self.actors)
        if len(self.models) > 1:
            found["models"] = dict(self.models)
        return found

    def target(self) -> tuple[str | None, int | None]:
        if len(self.models) == 1 and "…" not in self.models:
            (model,) = self.models
            version = next(iter(self.versions)) if len(self.versions) == 1 else None
            return model, version
        return None, None


def _bump(counter: Counter[str], value: str | None, n: int = 1) -> None:
    """Count ``value``, listing at most MAX_LISTED distinct values (the rest as "…")."""
    if value is None:
        return
    if value not in counter and len(counter) >= MAX_LISTED:
        value = "…"
    counter[value] += n


class FloodGate:
    """Decides, per process, which refusals are recorded one by one and counts the rest.

    ``per_credential`` refusals of one credential (and event) per minute are recorded, and
    ``per_minute`` across all credentials; the rest are counted into a Summary per
    credential, taken by :meth:`take` once their minute has closed (or all at shutdown).
    Thread-safe; the clock is injectable so tests need not wait for a minute to pass.
    """

    def __init__(
        self,
        per_credential: int,
        per_minute: int,
        *,
        max_counters: int = MAX_COUNTERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_credential = per_credential
        self.per_minute = per_minute
        self.max_counters = max_counters
        self.clock = clock
        self._lock = threading.Lock()
        self._window: int | None = None
        self._recorded: Counter[tuple[str, str]] = Counter()
        self._recorded_total = 0
        self._counted: dict[tuple[int, str, str], Summary] = {}
        self._counters_in: Counter[int] = Counter()

    def admit(self, refused: Refusal) -> bool:
        """True: record this refusal now. False: it has been counted for a summary."""
        window = int(self.clock() // WINDOW_SECONDS)
        key = (str(refused.event), refused.credential_key)
        with self._lock:
            if window != self._window:
                self._window = window
                self._recorded.clear()
                self._recorded_total = 0
            if self._recorded[key] < self.per_credential and self._recorded_total < self.per_minute:
                self._recorded[key] += 1
                self._recorded_total += 1
                return True
            slot = (window, *key)
            summary = self._counted.get(slot)
            if summary is None:
                if self._counters_in[window] >= self.max_counters:
                    slot = (window, str(refused.event), "*")
                    summary = self._counted.get(slot)
                    actor = VARIOUS
                else:
                    actor = refused.actor
                if summary is None:
                    summary = Summary(refused.event, actor, slot[2], window, self._recorded[key])
                    self._counted[slot] = summary
                    self._counters_in[window] += 1
            summary.add(refused)
            return False

    def take(self, *, everything: bool = False) -> list[Summary]:
        """The summaries of minutes that have closed (``everything``: of the open one too,
        at shutdown), oldest first; each is handed out once."""
        window = int(self.clock() // WINDOW_SECONDS)
        with self._lock:
            slots = sorted(s for s in self._counted if everything or s[0] < window)
            taken = [self._counted.pop(s) for s in slots]
            for summary in taken:
                self._counters_in[summary.window] -= 1
                if self._counters_in[summary.window] <= 0:
                    del self._counters_in[summary.window]
            return taken

    def give_back(self, summaries: Iterable[Summary]) -> None:
        """Summaries that could not be written (the database was down): keep them for the
        next flush rather than lose their counts."""
        with self._lock:
            for summary in summaries:
                slot = (summary.window, str(summary.event), summary.credential_key)
                mine = self._counted.get(slot)
                if mine is None:
                    self._counted[slot] = summary
                    self._counters_in[summary.window] += 1
                else:
                    mine.merge(summary)

    def pending(self) -> int:
        with self._lock:
            return sum(s.count for s in self._counted.values())


def write_summaries(session: Session, summaries: Iterable[Summary]) -> int:
    """Stage one event per summary (the caller commits them together: one append to the
    ledger however many credentials a flood used). Returns the refusals they count."""
    counted = 0
    for summary in summaries:
        model, version = summary.target()
        events.record(
            session,
            summary.event,
            summary.actor,
            model=model,
            version=version,
            data=summary.data(),
            request_id=None,
        )
        counted += summary.count
    return counted
