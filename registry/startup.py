"""What a starting service does once, before it serves: record the policy set in force, and
say what it leaves ungoverned.

Called by ``modelgate serve`` and by the gunicorn configuration, never by create_app (which
must not need a database). Replicas starting together record a change once: the domain
takes the audit chain's lock and compares digests.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import audit, events, registered_models
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
            _warn_about_aliases_outside_their_rules(session, policies)
    except sa.exc.SQLAlchemyError as exc:  # the service can still start; readiness will tell
        log.warning("could not record the policy set: %s", exc)
    finally:
        engine.dispose()


def warn_about_policies(policies: PolicySet) -> None:
    """Log, as warnings, what the policy set leaves any contributor free to change (aliases
    that deploy pipelines would follow without an approval)."""
    for warning in policies.alias_warnings():
        log.warning("policies: %s", warning)


SHOWN = 20


def _warn_about_aliases_outside_their_rules(session: Session, policies: PolicySet) -> None:
    """Aliases set before a rule bound them to a stage (or imported as they were) still name
    a version outside it: pipelines following them get what no approval admitted. Said at
    every start until someone moves or removes them; never changed here, as pipelines
    depend on them."""
    found = registered_models.aliases_outside_their_rules(session, policies)
    for item in found[:SHOWN]:
        log.warning(
            "policies: alias %r of %r names version %s (%s), outside rule %r (%s only); an "
            "approver may remove it, or move it onto a version in %s",
            item.alias,
            item.model,
            item.version,
            item.stage,
            item.rule,
            item.required_stage,
            item.required_stage,
        )
    if len(found) > SHOWN:
        log.warning("policies: and %d more aliases outside their rules", len(found) - SHOWN)
