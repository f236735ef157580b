"""Idempotency keys: a POST retried with the same ``Idempotency-Key`` changes nothing more
and gets the first answer again (a deploy pipeline that timed out registering a version
must be able to retry without making version 8 as well as version 7).

The key is written by the commit of the change itself (a before_commit hook, like the audit
events), so a key exists exactly when its change does; two retries racing meet at the unique
(actor, key) constraint and the loser's whole change rolls back. The answer is stored right
after the commit. Keys are per caller and kept for a day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain.errors import Conflict, InvalidArgument
from registry.orm import IdempotencyKey
from registry.orm.base import utcnow

PENDING = "modelgate.idempotency_key"  # session.info: the key the next commit writes
KEPT_FOR = dt.timedelta(hours=24)
MAX_KEY = 255
# The fields of an answer that show a secret once (the schemas' SHOWN_ONCE: a new API
# token, a webhook's signing secret). They are never kept with a stored answer: a copy of
# the database plus its key would otherwise hold a live admin token for a day. A replay
# leaves them out and names them in this header.
SECRET_FIELDS = ("token", "secret")
WITHHELD_HEADER = "Idempotent-Secret-Withheld"


def withhold_secrets(body: str) -> tuple[str, list[str]]:
    """``body`` without its shown-once secrets, and the names of the fields taken out."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body, []
    if not isinstance(answer, dict):
        return body, []
    withheld = [f for f in SECRET_FIELDS if isinstance(answer.get(f), str)]
    if not withheld:
        return body, []
    for name in withheld:
        del answer[name]
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")), withheld


@dataclass(frozen=True, slots=True)
class Claim:
    actor: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Stored:
    status_code: int
    body: str
    headers: dict[str, str]


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY or not key.isprintable() or not key.isascii():
        raise InvalidArgument(
            f"Idempotency-Key must be 1 to {MAX_KEY} printable ASCII characters (a UUID is usual).",
            field="Idempotency-Key",
        )
    return key


def replay(session: Session, claim: Claim, now: dt.datetime | None = None) -> Stored | None:
    """The stored answer for this key, or None when the key is new (or expired).

    Refuses a key reused for a different request, and one whose first request has
    committed but not yet stored its answer (it is still being answered)."""
    row = session.execute(
        sa.select(IdempotencyKey).where(
            IdempotencyKey.actor == claim.actor, IdempotencyKey.key == claim.key
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.created_at < (now or utcnow()) - KEPT_FOR:
        session.delete(row)
        session.flush()
        return None
    if row.fingerprint != claim.fingerprint:
        raise InvalidArgument(
            "This Idempotency-Key was used for a different request; use a new key for a new "
            "request.",
            field="Idempotency-Key",
        )
    if row.status_code is None:
        raise Conflict(
            "A request with this Idempotency-Key was applied and is still being answered; "
            "retry in a moment."
        )
    return Stored(row.status_code, row.response_body or "", dict(row.response_headers or {}))


def stage(session: Session, claim: Claim) -> None:
    """Have the session's next commit write the key along with the change."""
    session.info[PENDING] = claim


def unstage(session: Session) -> Claim | None:
    return session.info.pop(PENDING, None)


def write_pending(session: Session) -> None:
    """before_commit hook: the key commits with the first change its request commits."""
    if session.in_nested_transaction():
        return
    claim = session.info.pop(PENDING, None)
    if claim is not None:
        session.add(
            IdempotencyKey(
                actor=claim.actor, key=claim.key, fingerprint=claim.fingerprint, created_at=utcnow()
            )
        )
        session.flush()


def store_answer(
    session: Session, claim: Claim, status: int, body: str, headers: dict[str, str]
) -> None:
    session.execute(
        sa.update(IdempotencyKey)
        .where(
            IdempotencyKey.actor == claim.actor,
            IdempotencyKey.key == claim.key,
            IdempotencyKey.status_code.is_(None),
        )
        .values(status_code=status, response_body=body, response_headers=headers)
    )


def purge_expired(session: Session, now: dt.datetime | None = None) -> int:
    result = session.execute(
        sa.delete(IdempotencyKey).where(IdempotencyKey.created_at < (now or utcnow()) - KEPT_FOR)
    )
    return result.rowcount or 0
