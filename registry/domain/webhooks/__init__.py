"""Webhooks: subscriptions, the transactional outbox, and the rules of delivery.

- :mod:`.subscriptions`: who is subscribed to what, and their sealed signing secrets;
- :mod:`.routing`: which events are delivered at all, and to which subscriptions;
- :mod:`.outbox`: the delivery rows a commit writes with its events, and sends queued by
  hand (a test ping, a redelivery);
- :mod:`.signing`: Standard Webhooks signatures (and Databricks');
- :mod:`.delivery`: claiming a due delivery, recording the attempt, the retry schedule;
- :mod:`.deliveries`: reading a subscription's deliveries and attempts.

The HTTP sender (outside the domain) claims a delivery here, sends it, and records the
result here. The functions callers use are re-exported below, so
``from registry.domain import webhooks; webhooks.create_webhook(...)`` reads as before.
"""

from registry.domain.webhooks.deliveries import AttemptInfo, DeliveryInfo, list_deliveries
from registry.domain.webhooks.delivery import (
    DEFAULT_SCHEDULE,
    FAILED_STREAK_TO_DISABLE,
    LEASE,
    MAX_RETRY_AFTER,
    SNIPPET,
    Claim,
    Outcome,
    Result,
    claim,
    due,
    headers_for,
    mark_enqueued,
    record_result,
)
from registry.domain.webhooks.outbox import (
    NEW_DELIVERIES,
    redeliver,
    send_test,
    take_new_deliveries,
    write_outbox,
)
from registry.domain.webhooks.routing import AUDIT_ONLY, NAMED_ONLY, TEST_EVENT, deliverable
from registry.domain.webhooks.signing import databricks_signature, new_secret, sign
from registry.domain.webhooks.subscriptions import (
    STRICT,
    UNSET,
    WebhookInfo,
    create_webhook,
    delete_webhook,
    get_webhook,
    list_webhooks,
    rotate_secret,
    signing_secrets,
    update_webhook,
)

__all__ = [
    "AUDIT_ONLY",
    "DEFAULT_SCHEDULE",
    "FAILED_STREAK_TO_DISABLE",
    "LEASE",
    "MAX_RETRY_AFTER",
    "NAMED_ONLY",
    "NEW_DELIVERIES",
    "SNIPPET",
    "STRICT",
    "TEST_EVENT",
    "UNSET",
    "AttemptInfo",
    "Claim",
    "DeliveryInfo",
    "Outcome",
    "Result",
    "WebhookInfo",
    "claim",
    "create_webhook",
    "databricks_signature",
    "deliverable",
    "delete_webhook",
    "due",
    "get_webhook",
    "headers_for",
    "list_deliveries",
    "list_webhooks",
    "mark_enqueued",
    "new_secret",
    "record_result",
    "redeliver",
    "rotate_secret",
    "send_test",
    "sign",
    "signing_secrets",
    "take_new_deliveries",
    "update_webhook",
    "write_outbox",
]
