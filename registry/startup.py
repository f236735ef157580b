"""What a starting service does once, before it serves: record the policy set in force, and
say so when audit checkpoints cannot be signed.

Called by ``modelgate serve`` and by the gunicorn configuration, never by create_app (which
must not need a database). Replicas starting together record a change once: the domain
takes the audit chain's lock and compares digests.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import audit, events
from registry.domain.policy import PolicySet

log = logging.getLogger("modelgate.startup")


def record_policies(database_url: str, policies: PolicySet) -> None:
    events.install()
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with Session(engine) as session:
            if audit.record_policies_if_changed(session, policies):
                log.info("recorded policy set %s in the audit ledger", policies.digest[:12])
            session.commit()
    except sa.exc.SQLAlchemyError as exc:  # the service can still start; readiness will tell
        log.warning("could not record the policy set: %s", exc)
    finally:
        engine.dispose()


def warn_without_checkpoint_key(settings: Mapping[str, Any]) -> bool:
    """Warn when this server cannot sign audit checkpoints (a server database without
    MODELGATE_AUDIT_SIGNING_KEY); True if it warned."""
    if settings.get("AUDIT_SIGNING_KEY"):
        return False
    log.warning(
        "audit checkpoints are unavailable: MODELGATE_AUDIT_SIGNING_KEY is not set, so "
        "nothing outside the database can show a rewritten audit ledger. Make a key with "
        "`modelgate audit keygen -o FILE` and set MODELGATE_AUDIT_SIGNING_KEY(_FILE)."
    )
    return True
