"""What a starting service does once, before it serves: record the policy set in force, say
what it leaves ungoverned, bring the artifact store up to date, and say so when audit
checkpoints cannot be signed.

Called by ``modelgate serve`` and by the gunicorn configuration, never by create_app (which
must not need a database). Replicas starting together record a change once: the domain
takes the audit chain's lock and compares digests, and adopting artifact files locks each
model and skips files already recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import artifacts, audit, on_commit, registered_models
from registry.domain.policy import PolicySet

log = logging.getLogger("modelgate.startup")


def record_policies(database_url: str, policies: PolicySet) -> None:
    on_commit.install()
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


def upgrade_artifact_store(database_url: str, artifact_root: str) -> None:
    """Bring files an earlier release kept under model names (``<root>/<name>/...``) into the
    write-once store, each recorded as uploaded by ``system:upgrade``, and record the digest
    of versions registered from the store before digests existed. Idempotent: a second run
    finds nothing to do. A failure is logged and the service starts anyway: files not yet
    adopted are simply not served until the next start."""
    on_commit.install()
    store = artifacts.ArtifactStore(artifact_root)
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        store.clear_stale_scratch()
        with Session(engine) as session:
            for name in store.legacy_directories():
                try:
                    adopted = store.adopt_legacy(session, name)
                    session.commit()
                except sa.exc.IntegrityError:  # a replica starting alongside adopted them
                    session.rollback()
                    continue
                store.retire_legacy(name)
                if adopted:
                    log.info(
                        "adopted %d file(s) of model %r into the artifact store", adopted, name
                    )
            for name, version in artifacts.record_missing_digests(session):
                log.info("recorded the digest of %r version %d", name, version)
            session.commit()
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        log.warning("could not bring the artifact store up to date: %s", exc)
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
