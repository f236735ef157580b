"""``modelgate keys``: seal the secrets kept at rest again after a rotation, and replace an
embedded key file that held the key once committed to the repository.
"""

from __future__ import annotations

import os
from typing import Any

import click

from registry.cli.common import load_settings, operator_session
from registry.domain.principal import system


@click.group("keys")
def keys_group() -> None:
    """Keys: seal the secrets kept at rest again after a key rotation."""


@keys_group.command("reseal")
def keys_reseal() -> None:
    """Seal every webhook secret and stored answer again under the current key.

    Run it after changing MODELGATE_SECRET_KEY (the old one in MODELGATE_PREVIOUS_SECRET_KEYS)
    or MODELGATE_WEBHOOK_ENCRYPTION_KEY (new,old); then the old key can go. On the embedded
    default it also finishes replacing a key file that held the once-committed key.
    """
    from flask import current_app

    from registry.config import secret_keys
    from registry.domain import keys as sealed

    settings = load_settings()
    if settings["KEY_FILE_REPLACEMENT"]:
        replace_committed_key(settings)
        return
    with operator_session() as session:
        result = sealed.reseal(session, secret_keys.app_box(current_app), system())
        session.commit()
    click.echo(
        f"Sealed again under the current key: {result.webhook_secrets} webhook secret(s), "
        f"{result.idempotent_answers} stored answer(s). The previous keys may now be removed."
    )


def replace_committed_key(settings: dict[str, Any]) -> None:
    """Finish replacing an embedded key file that held the key once committed to the
    repository (config.load has already chosen the new key, kept in ``.secret.next``).

    Every secret sealed at rest is sealed again under the new key in one transaction, with
    a key.replaced audit event; only after the commit does the new key take the old one's
    place. A crash before the commit leaves everything as it was (the same new key is used
    next time); a crash after it leaves the new key in ``.secret.next``, where the next start
    finds it: no secret is ever left sealed under a key that is gone."""
    replacement = settings.get("KEY_FILE_REPLACEMENT")
    if not replacement:
        return
    from pathlib import Path

    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from registry.config import secret_keys
    from registry.domain import events, on_commit
    from registry.domain import keys as sealed

    key_file, pending = (Path(p) for p in replacement)
    on_commit.install()
    engine = sa.create_engine(settings["DATABASE_URL"], poolclass=sa.pool.NullPool)
    try:
        with Session(engine) as session:
            result = sealed.reseal(
                session,
                secret_keys.box(settings),
                system(),
                events.EventType.KEY_REPLACED,
                data={
                    "key_file": key_file.name,
                    "reason": f"the key committed to the repository in "
                    f"{secret_keys.COMMITTED_IN} is public",
                    "replaced_key_sha256": secret_keys.COMMITTED_KEY_SHA256,
                },
            )
            session.commit()
    finally:
        engine.dispose()
    try:
        os.replace(pending, key_file)
    except FileNotFoundError:  # another process starting at the same time got there first
        return
    click.echo(
        f"Modelgate: {key_file} held the key that was committed to Modelgate's repository "
        f"({secret_keys.COMMITTED_IN}), which anyone can read. It is replaced by a new key; "
        f"{result.webhook_secrets} webhook secret(s) and {result.idempotent_answers} stored "
        "answer(s) are sealed under the new key. Console sessions and page tokens made with "
        "the old key no longer work: sign in again. (Audit event key.replaced.)"
    )
