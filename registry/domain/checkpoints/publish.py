"""Publishing checkpoints in the ledger: a periodic ``audit.checkpoint`` event carrying a
signed checkpoint of the head, delivered to the webhook subscriptions that name it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import ledger
from registry.domain.checkpoints.keys import Keyring
from registry.domain.checkpoints.signing import EVENT, Checkpoint, sign
from registry.domain.events import record
from registry.domain.principal import system
from registry.orm import AuditChainHead, AuditEvent
from registry.orm.base import utcnow


def publish(
    session: Session,
    keyring: Keyring,
    *,
    min_interval: float,
    now: dt.datetime | None = None,
) -> Checkpoint | None:
    """Record an ``audit.checkpoint`` event carrying a signed checkpoint of the head, so
    webhook subscribers receive a copy; None when there is nothing new to sign.

    The event itself moves the head, so "nothing new" means the newest event is the last
    checkpoint. The checkpoint is signed (and time-stamped, a network call) before the chain
    lock is taken, so writers never wait on an authority; under the lock the last
    checkpoint is looked at again, so processes publishing at once (an embedded thread in
    each API process) record one between them. Events recorded meanwhile only mean the
    checkpoint names a head a little before its own event, which verify expects. The caller
    commits.
    """
    if keyring.signer is None:
        return None
    now = now or utcnow()
    head = session.execute(
        sa.select(AuditChainHead.seq, AuditChainHead.hash).where(
            AuditChainHead.id == ledger.HEAD_ID
        )
    ).one_or_none()
    if head is None or head.seq == 0 or _published_since(session, head.seq, now, min_interval):
        return None
    checkpoint = sign(keyring, head.seq, head.hash, now)
    ledger.lock_chain(session)
    if _published_since(session, head.seq, now, min_interval):
        return None
    record(session, EVENT, system(), data={"checkpoint": checkpoint.as_dict()})
    return checkpoint


def _published_since(session: Session, head_seq: int, now: dt.datetime, gap: float) -> bool:
    """Whether the last checkpoint already covers ``head_seq``, or is younger than ``gap``."""
    last = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.at)
        .where(AuditEvent.event == EVENT)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).one_or_none()
    return last is not None and (
        last.seq >= head_seq or _aware(last.at) > now - dt.timedelta(seconds=gap)
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
