"""The whole beat schedule in one place."""

from __future__ import annotations

from typing import Any


def beat_schedule(config: Any) -> dict[str, dict[str, Any]]:
    schedule = {
        "send-due-webhook-deliveries": {
            "task": "workers.tasks.webhooks.sweep",
            "schedule": float(config["WEBHOOK_SWEEP_SECONDS"]),
        },
        "expire-stale-transition-requests": {
            "task": "workers.tasks.approvals.expire",
            "schedule": 60.0,
        },
        "purge-expired-idempotency-keys": {
            "task": "workers.tasks.housekeeping.purge",
            "schedule": 3600.0,
        },
    }
    if config["AUDIT_CHECKPOINT_SECONDS"]:
        schedule["publish-audit-checkpoint"] = {
            "task": "workers.tasks.audit.checkpoint",
            "schedule": float(config["AUDIT_CHECKPOINT_SECONDS"]),
        }
    return schedule
