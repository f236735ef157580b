"""Which events reach webhooks, and which subscriptions each event reaches.

Identity, configuration and refused-access events stay in the ledger (:data:`AUDIT_ONLY`); a
few are delivered only to subscriptions that name them (:data:`NAMED_ONLY`). A subscription
names events exactly, by family (``transition_request.*``) or as ``*``, and may narrow them to
models matching a glob.
"""

from __future__ import annotations

from registry.domain import globs
from registry.domain.errors import InvalidArgument
from registry.domain.events import EventType
from registry.orm import Webhook

TEST_EVENT = EventType.WEBHOOK_TEST.value


# Event families kept in the ledger only: identity and webhook configuration are for
# auditors, not for subscribers; so are refused accesses (access.denied), which carry client
# addresses and credential fingerprints and come in floods. Governance refusals
# (transition.refused) are delivered: a tech lead's channel wants to hear that someone tried
# to push a model to Production and was turned away.
AUDIT_ONLY = ("token.", "role_binding.", "webhook.", "policy.", "key.", "access.")


# Events delivered only to subscriptions that name them (or their family), never to "*":
# receivers of model changes should not start getting the ledger's hourly checkpoints.
NAMED_ONLY = frozenset({EventType.AUDIT_CHECKPOINT.value})


def deliverable(event: str) -> bool:
    return event == TEST_EVENT or not event.startswith(AUDIT_ONLY)


def check_events(events: object) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidArgument(
            "events must be a non-empty list of event names, '*' for all.", field="events"
        )
    known = {e.value for e in EventType if deliverable(e.value)} | {TEST_EVENT}
    families = {name.split(".", 1)[0] + ".*" for name in known}
    wrong = [e for e in events if e != "*" and e not in known and e not in families]
    if wrong:
        raise InvalidArgument(
            f"Unknown or undeliverable event(s): {', '.join(sorted(wrong))}. Use event names "
            "such as model_version.stage_changed, a family such as transition_request.*, "
            "or '*'.",
            field="events",
        )
    return sorted(set(events))


def subscribed(row: Webhook, event: str, model: str | None) -> bool:
    if not row.active:
        return False
    family = event.split(".", 1)[0] + ".*"
    wanted = (event, family) if event in NAMED_ONLY else ("*", event, family)
    if not any(e in wanted for e in row.events):
        return False
    return model is None or globs.matches(row.model_filter, model)
