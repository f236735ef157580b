"""The whole beat schedule in one place."""

from __future__ import annotations

from typing import Any


def beat_schedule(config: Any) -> dict[str, dict[str, Any]]:
    return {
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
