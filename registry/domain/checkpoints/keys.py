"""The keys of audit checkpoints: Ed25519 keys in PEM or JWKS, their ids (RFC 7638
thumbprints), and the keyring a process signs and verifies with.

``key_id`` is the RFC 7638 JWK thumbprint of the public key, so any JOSE library computes it
from the key published at ``/api/v1/audit/checkpoint-keys``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.domain import ledger

EXTENSION = "modelgate.audit_keyring"  # where an app keeps its Keyring


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The RFC 7638 thumbprint of the key's JWK (SHA-256, base64url)."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw_public(key))}
    return _b64url(hashlib.sha256(ledger.canonical(members)).digest())


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_private(pem: str | bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8); ValueError says what is wrong."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM private key without a password ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"an Ed25519 key is needed, not {type(key).__name__}")
    return key


def load_public_keys(text: str | bytes) -> list[Ed25519PublicKey]:
    """Ed25519 public keys from PEM blocks (one or more, concatenated) or a JWKS document
    (the answer of /api/v1/audit/checkpoint-keys). A private key is accepted for its public
    half. ValueError names what could not be read."""
    data = text.decode() if isinstance(text, bytes) else text
    if data.lstrip().startswith("{"):
        return _keys_from_jwks(data)
    keys: list[Ed25519PublicKey] = []
    for block in data.split("-----END ")[:-1]:
        start = block.find("-----BEGIN ")
        if start < 0:
            continue
        kind = block[start + len("-----BEGIN ") :].split("-----", 1)[0]
        pem = f"{block[start:]}-----END {kind}-----\n".encode()
        if "PRIVATE" in kind:
            keys.append(load_private(pem).public_key())
            continue
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as exc:
            raise ValueError(f"not a PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"an Ed25519 key is needed, not {type(key).__name__}")
        keys.append(key)
    if not keys:
        raise ValueError("no PEM key or JWKS found")
    return keys


def _keys_from_jwks(data: str) -> list[Ed25519PublicKey]:
    try:
        document = json.loads(data)
        entries = document.get("keys", [document])
        keys = [
            Ed25519PublicKey.from_public_bytes(_unb64url(entry["x"]))
            for entry in entries
            if entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519"
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a JWKS of Ed25519 keys ({exc})") from None
    if not keys:
        raise ValueError("the JWKS holds no Ed25519 key")
    return keys


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_private_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


@dataclass(frozen=True)
class Keyring:
    """The key that signs checkpoints (when this process has it) and every public key whose
    checkpoints still verify: the signing key's own and the retired ones."""

    signer: Ed25519PrivateKey | None = None
    public: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)
    # Asks an RFC 3161 authority to stamp a signature (base64 DER answer), when one is set.
    timestamper: Callable[[bytes], str] | None = None
    tsa_roots: Sequence[Any] = ()  # certificates an authority's stamps must chain to

    @classmethod
    def build(
        cls,
        signing_pem: str | None = None,
        public_keys: Iterable[Ed25519PublicKey] = (),
        timestamper: Callable[[bytes], str] | None = None,
        tsa_roots: Sequence[Any] = (),
    ) -> Keyring:
        signer = load_private(signing_pem) if signing_pem else None
        listed = [signer.public_key()] if signer else []
        listed.extend(public_keys)
        return cls(signer, {key_id(k): k for k in listed}, timestamper, tuple(tsa_roots))

    @property
    def signing_key_id(self) -> str | None:
        return key_id(self.signer.public_key()) if self.signer else None

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWKS (RFC 8037 OKP keys), the signing key first."""
        current = self.signing_key_id
        ordered = sorted(self.public.items(), key=lambda item: item[0] != current)
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": _b64url(raw_public(key)),
                    "kid": kid,
                    "use": "sig",
                    "alg": "EdDSA",
                    "status": "current" if kid == current else "retired",
                }
                for kid, key in ordered
            ]
        }


def keyring_from(settings: Mapping[str, Any]) -> Keyring:
    """The keyring the settings describe (config.load has resolved and checked them)."""
    from registry.clients import timestamping

    retired = settings.get("AUDIT_PUBLIC_KEYS")
    roots = settings.get("AUDIT_TSA_CERTIFICATES")
    tsa_roots = timestamping.load_certificates(roots) if roots else []
    url = settings.get("AUDIT_TSA_URL")
    return Keyring.build(
        settings.get("AUDIT_SIGNING_KEY"),
        load_public_keys(retired) if retired else (),
        timestamping.Timestamper(url, tsa_roots) if url else None,
        tsa_roots,
    )
