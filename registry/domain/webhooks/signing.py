"""Webhook secrets and signatures: Standard Webhooks, and Databricks' for its receivers.

``webhook-signature`` is ``v1,`` + base64 HMAC-SHA256 over ``{id}.{timestamp}.{body}`` keyed
by the subscription's secret (two signatures during a rotation); ``X-Databricks-Signature``
is the hex HMAC-SHA256 of the body alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes, the Standard Webhooks form."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _key_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secrets_in_use: Sequence[str], message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated."""
    content = f"{message_id}.{timestamp}.{body}".encode()
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key_bytes(s), content, hashlib.sha256).digest()).decode()
        for s in secrets_in_use
    )


def databricks_signature(secret: str, body: str) -> str:
    """``X-Databricks-Signature``: lowercase hex HMAC-SHA256 of the body, keyed by the
    secret's text, for receivers built for Databricks registry webhooks."""
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
