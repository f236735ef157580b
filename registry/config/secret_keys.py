"""The service's secret key: what it keys, the value it must never be, and the box that seals
secrets at rest.

One ``MODELGATE_SECRET_KEY`` keys four things, each through its own derivation so that no
two purposes ever share a key (SECURITY.md lists them):

- console session cookies: signed by Flask (itsdangerous, salt ``cookie-session``), and the
  token inside encrypted with Fernet under SHA-256(``modelgate-console-session\\0`` + key);
- page tokens: signed by itsdangerous with the salt ``modelgate.page-token``;
- webhook signing secrets and stored idempotent answers, sealed at rest with Fernet under
  SHA-256(``modelgate.webhook-secrets:`` + key), unless ``MODELGATE_WEBHOOK_ENCRYPTION_KEY``
  gives that key outright.

The embedded default's key file was committed to the repository once (544de06), so that
value is public: every install started from a clone had the same key. It is recognised by
its hash (the value itself is not repeated here) and never used to sign or seal: a key set
to it is refused, and the embedded default replaces a key file holding it (see
:mod:`registry.cli.keys`, ``keys reseal``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # config imports this module before any of the domain's
    from registry.domain.sealing import SecretBox

# sha256 of the key committed in 544de06 (`git show 544de06:modelgate.secret`, stripped),
# and of the webhook encryption key derived from it (SecretBox.derive).
COMMITTED_KEY_SHA256 = "1b377b915ecfc27dbb551a61eb3d96b6fc457b789ca34584d8b330e7b8826fb0"
COMMITTED_WEBHOOK_KEY_SHA256 = "6a5257a339e26c13e2c749e76603ea9f73d55600ab71616c6276b97ff61c431c"
COMMITTED_IN = "544de06"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.strip().encode()).hexdigest()


def is_committed(secret_key: str) -> bool:
    """Whether ``secret_key`` is the key once committed to the repository (public)."""
    return _sha256(secret_key) == COMMITTED_KEY_SHA256


def is_committed_webhook_key(fernet_key: str) -> bool:
    """Whether ``fernet_key`` is the webhook encryption key derived from the committed key
    (SECURITY.md once told operators to pin the derived key before changing SECRET_KEY)."""
    return _sha256(fernet_key) == COMMITTED_WEBHOOK_KEY_SHA256


def box_keys(config: Mapping[str, Any]) -> list[str]:
    """The Fernet keys of the box that seals secrets at rest: the first seals, every one
    opens. Sealing uses MODELGATE_WEBHOOK_ENCRYPTION_KEY's first key if set, else the key
    derived from the secret key; the keys derived from the current and previous secret keys
    still open what they sealed, so a rotation never strands a secret."""
    from registry.domain.sealing import SecretBox

    keys: list[str] = list(_as_list(config.get("WEBHOOK_ENCRYPTION_KEY")))
    keys.append(SecretBox.derive(config["SECRET_KEY"]))
    keys.extend(SecretBox.derive(k) for k in _as_list(config.get("PREVIOUS_SECRET_KEYS")))
    return list(dict.fromkeys(keys))  # in order, once each


def box(config: Mapping[str, Any]) -> SecretBox:
    from registry.domain.sealing import SecretBox

    return SecretBox(box_keys(config))


# Where create_app keeps the app's one box (in Flask's app.extensions): the webhook outbox
# seals subscribers' secrets with it, the idempotency store the answers it keeps.
EXTENSION = "modelgate.secret_box"


def app_box(app: Any) -> SecretBox:
    """The box of a Flask app built by create_app."""
    box: SecretBox = app.extensions[EXTENSION]
    return box


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return [item for item in value if item]
