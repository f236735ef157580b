"""Verifying the audit ledger: the hash chain, the registry's tables, signed checkpoints.

:func:`verify` recomputes the chain from the genesis, replays what the ledger says about
stages and requests (:mod:`registry.domain.audit.replay`) and compares it with the tables,
and checks the checkpoints the ledger carries or the caller saved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import checkpoints, ledger, permissions
from registry.domain.audit.query import TABLE
from registry.domain.audit.replay import Replay
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.orm import AuditChainHead, AuditEvent
from registry.orm.audit import GENESIS_HASH

MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    """How the ledger stands against a checkpoint saved earlier."""

    seq: int
    hash: str
    key_id: str
    ok: bool
    problem: str | None = None
    # RFC 3161: "verified", "not checked" (no authority certificate to check it with), or
    # None when the checkpoint carries no time-stamp; and the time it vouches for.
    timestamp: str | None = None
    timestamped_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "key_id": self.key_id,
            "ok": self.ok,
            "problem": self.problem,
            "timestamp": self.timestamp,
            "timestamped_at": ledger.format_time(self.timestamped_at)
            if self.timestamped_at
            else None,
        }


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    events_checked: int
    first_bad_seq: int | None
    problem: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    # What the ledger and the registry's tables disagree on (each {"kind", "message", ...}).
    problems: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: CheckpointCheck | None = None
    checkpoints_checked: int = 0  # audit.checkpoint events found in the ledger and checked

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problems": self.problems,
            "checkpoints_checked": self.checkpoints_checked,
            "checkpoint": self.checkpoint.as_dict() if self.checkpoint else None,
        }


def verify(
    session: Session,
    principal: Principal,
    chunk: int = 5000,
    *,
    checkpoint: Any = None,
    keys: Mapping[str, Any] | None = None,
    tsa_roots: Sequence[Any] = (),
) -> Verification:
    """Recompute the chain from the genesis: every seq present and in order, every event
    linked to the one before and hashing to what it says, and the newest one matching the
    chain head (so a truncated tail is caught too). Reports the first bad seq.

    In the same pass it replays what the ledger says about stages and transition requests,
    and compares that with the registry's tables (:class:`_Replay`), and checks the signed
    checkpoints the ledger carries. Given a ``checkpoint`` saved earlier (a
    :class:`registry.domain.checkpoints.Checkpoint`), it also proves the ledger still holds
    that head: the checkpoint's signature must verify with one of ``keys`` (key id -> public
    key), and the event at its seq must carry exactly its hash. An RFC 3161 time-stamp it
    carries must verify against ``tsa_roots`` (it is reported unchecked without them). A
    ledger truncated or re-hashed after the checkpoint was issued fails here even though its
    chain verifies.

    On PostgreSQL it reads one snapshot (a read-only REPEATABLE READ transaction of its
    own), so events and changes committed while it runs can neither look like a truncated
    tail nor like rows the ledger does not account for.
    """
    permissions.require(principal, Action.READ_AUDIT)
    bind = session.get_bind()
    if isinstance(bind, sa.Engine) and bind.dialect.name == "postgresql":
        with bind.connect() as connection:
            snapshot = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with Session(bind=snapshot) as reading:
                return _verify(reading, chunk, checkpoint, keys or {}, tsa_roots)
    return _verify(session, chunk, checkpoint, keys or {}, tsa_roots)


def _verify(
    session: Session,
    chunk: int,
    checkpoint: Any,
    keys: Mapping[str, Any],
    tsa_roots: Sequence[Any],
) -> Verification:
    head = session.get(AuditChainHead, ledger.HEAD_ID)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    found = {"head_seq": head_seq, "head_hash": head_hash}
    replay = Replay(keys)
    expected_seq, previous, checked = 1, GENESIS_HASH, 0
    at_checkpoint: str | None = None
    while True:
        rows = session.execute(
            sa.select(TABLE)
            .where(AuditEvent.seq >= expected_seq)
            .order_by(AuditEvent.seq)
            .limit(chunk)
        ).all()
        for row in rows:
            if row.seq != expected_seq:
                return Verification(
                    False, checked, expected_seq, f"event {expected_seq} is missing", **found
                )
            if row.prev_hash != previous:
                return Verification(
                    False,
                    checked,
                    row.seq,
                    "prev_hash does not match the event before it",
                    **found,
                )
            if ledger.hash_of(row) != row.hash:
                return Verification(
                    False,
                    checked,
                    row.seq,
                    "the event's content does not match its hash",
                    **found,
                )
            if checkpoint is not None and row.seq == checkpoint.seq:
                at_checkpoint = row.hash
            replay.feed(row)
            previous, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
        if len(rows) < chunk:
            break
    if head is not None and (head.seq != checked or head.hash != previous):
        return Verification(
            False,
            checked,
            checked + 1,
            f"the chain head says {head.seq} events; the table ends at {checked}",
            **found,
        )
    problems = replay.compare(session)
    against = None
    if checkpoint is not None:
        against = _against_checkpoint(checkpoint, keys, checked, at_checkpoint, tsa_roots)
    ok = not problems and (against is None or against.ok)
    summary = None
    if problems:
        summary = f"{len(problems)} disagreement(s) between the ledger and the registry's tables"
    if against is not None and not against.ok:
        summary = against.problem
    return Verification(
        ok,
        checked,
        None,
        summary,
        **found,
        problems=problems[:MAX_PROBLEMS],
        checkpoint=against,
        checkpoints_checked=replay.checkpoints_checked,
    )


def _against_checkpoint(
    checkpoint: Any,
    keys: Mapping[str, Any],
    checked: int,
    at_checkpoint: str | None,
    tsa_roots: Sequence[Any] = (),
) -> CheckpointCheck:
    stamped: dict[str, Any] = {}

    def result(problem: str | None) -> CheckpointCheck:
        return CheckpointCheck(
            checkpoint.seq, checkpoint.hash, checkpoint.key_id, problem is None, problem, **stamped
        )

    wrong = checkpoints.signature_problem(checkpoint, keys)
    if wrong is not None:
        return result(wrong)
    if checkpoint.rfc3161_timestamp is not None:
        if not tsa_roots:
            stamped["timestamp"] = "not checked"
        else:
            wrong, when = checkpoints.timestamp_problem(checkpoint, tsa_roots)
            if wrong is not None:
                return result(wrong)
            stamped.update(timestamp="verified", timestamped_at=when)
    if checkpoint.seq == 0:
        at_checkpoint = GENESIS_HASH
    if at_checkpoint is None:
        return result(
            f"the ledger ends at seq {checked}, before the checkpoint's seq {checkpoint.seq}: "
            "events recorded before the checkpoint was issued have been removed (truncated)"
        )
    if at_checkpoint != checkpoint.hash:
        return result(
            f"the event at seq {checkpoint.seq} hashes to {at_checkpoint}, but the checkpoint "
            f"signed {checkpoint.hash}: the ledger was rewritten at or before seq "
            f"{checkpoint.seq} after the checkpoint was issued, and its hashes recomputed"
        )
    return result(None)
