"""Recording the policy set in force in the ledger, once per change."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import ledger
from registry.domain.events import record
from registry.domain.policy import PolicySet
from registry.domain.principal import system
from registry.orm import AuditEvent

POLICY_LOADED = "policy.loaded"


def record_policies_if_changed(session: Session, policies: PolicySet) -> bool:
    """Record the policy set in force when it differs from the last one recorded.

    Takes the chain lock first, so replicas starting together record a change once.
    """
    ledger.lock_chain(session)
    last = session.execute(
        sa.select(AuditEvent.data)
        .where(AuditEvent.event == POLICY_LOADED)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is not None and last.get("digest") == policies.digest:
        return False
    record(
        session,
        POLICY_LOADED,
        system(),
        data={
            "digest": policies.digest,
            "previous_digest": last.get("digest") if last else None,
            "files": list(policies.files),
            "policies": [p.name for p in policies.policies],
            "alias_rules": [r.name for r in policies.alias_rules],
        },
    )
    return True
