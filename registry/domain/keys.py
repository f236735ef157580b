"""Secrets sealed at rest, sealed again under the current key.

Webhook signing secrets and stored idempotent answers are sealed (Fernet) with the box's
first key. After the secret key or the webhook encryption key changes, the box still opens
what older keys sealed (they are given to it as previous keys); :func:`reseal` moves every
sealed value onto the current key in one transaction, with its audit event, so the older
keys can then be dropped. Running it again is harmless: each value is opened with whichever
key sealed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import idempotency
from registry.domain.events import EventType, record
from registry.domain.principal import Principal
from registry.domain.sealing import SecretBox
from registry.orm import IdempotencyKey, Webhook


@dataclass(frozen=True, slots=True)
class Resealed:
    webhook_secrets: int
    idempotent_answers: int
    secrets_withheld: int  # stored answers that still held a shown-once secret (older ones)


def reseal(
    session: Session,
    box: SecretBox,
    actor: Principal,
    event: EventType = EventType.KEYS_RESEALED,
    data: dict[str, Any] | None = None,
) -> Resealed:
    """Seal every webhook secret and stored answer again with ``box``'s first key, and
    record ``event``; the caller commits. Rows are locked as they are read, so a secret
    rotated meanwhile is not overwritten with its predecessor."""
    secrets = 0
    for hook in session.execute(sa.select(Webhook).with_for_update()).scalars():
        hook.secret = box.reseal(hook.secret)
        secrets += 1
        if hook.previous_secret:
            hook.previous_secret = box.reseal(hook.previous_secret)
            secrets += 1
    answers = withheld = 0
    stored = sa.select(IdempotencyKey).where(IdempotencyKey.response_body.is_not(None))
    for row in session.execute(stored.with_for_update()).scalars():
        # Answers stored before secrets were withheld may still hold one: take it out now.
        body, taken = idempotency.withhold_secrets(box.open(row.response_body or ""))
        row.response_body = box.seal(body)
        if taken:
            row.response_headers = {
                **(row.response_headers or {}),
                idempotency.WITHHELD_HEADER: ", ".join(taken),
            }
            withheld += 1
        answers += 1
    result = Resealed(secrets, answers, withheld)
    record(
        session,
        event,
        actor,
        data={
            **(data or {}),
            "webhook_secrets": result.webhook_secrets,
            "idempotent_answers": result.idempotent_answers,
            "secrets_withheld": result.secrets_withheld,
        },
    )
    session.flush()
    return result
