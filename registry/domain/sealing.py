"""The box that seals secrets at rest: webhook signing secrets and stored idempotent answers.

One box per service, built from its keys (:func:`registry.config.secret_keys.box`); the webhook
subscriptions, the idempotency store and :mod:`registry.domain.keys` (resealing under a new
key) all use it, so it belongs to none of them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBox:
    """Seals values kept at rest that must be read back: webhook signing secrets (to sign)
    and stored idempotent answers (to replay), so they are encrypted (Fernet: AES-128-CBC
    with HMAC) rather than hashed.

    Given several keys (during a rotation), the first seals and every one opens;
    :meth:`reseal` moves a sealed value onto the first key."""

    def __init__(self, key: str | Sequence[str]) -> None:
        keys = [key] if isinstance(key, str) else list(key)
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @staticmethod
    def derive(material: str) -> str:
        """A Fernet key derived from another secret (the service's SECRET_KEY). The salt
        names webhook secrets, the box's first use; it stays, or every sealed value would
        need resealing."""
        digest = hashlib.sha256(b"modelgate.webhook-secrets:" + material.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode()

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise RuntimeError(
                "A webhook secret cannot be decrypted: MODELGATE_WEBHOOK_ENCRYPTION_KEY (or "
                "the MODELGATE_SECRET_KEY it derives from) changed since it was stored; give "
                "the old key in MODELGATE_PREVIOUS_SECRET_KEYS (or after the new one in "
                "MODELGATE_WEBHOOK_ENCRYPTION_KEY) and run `modelgate keys reseal`."
            ) from None

    def reseal(self, sealed: str) -> str:
        """``sealed`` sealed again with the first key (whichever key sealed it)."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            self.open(sealed)  # raises, saying which keys to give
            raise
