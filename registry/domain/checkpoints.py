"""Signed checkpoints of the audit chain: a statement of its head that outlives the database.

The hash chain alone proves nothing against whoever can write the tables: they can rewrite
an event, recompute every later hash and the head, and the chain verifies. A checkpoint
fixes the head at a moment — ``seq``, ``hash``, ``at`` — under an Ed25519 signature made
with a key the database never holds. Copies kept elsewhere (an auditor's file, a webhook
receiver's store) then prove that the ledger still contains, and extends, that head: a
ledger truncated or re-hashed after the checkpoint no longer has that hash at that seq.

The signed bytes are an in-toto Statement (the subject is the ledger, its digest the head
hash) in a DSSE envelope, the form later provenance attestations of this project take too.
The statement is canonical JSON built from the top-level fields alone, so the five fields
an auditor keeps (``seq``, ``hash``, ``at``, ``key_id``, ``signature``) suffice to check it,
and the payload type inside DSSE's pre-authentication encoding, with the predicate type,
keeps a checkpoint signature from ever passing for any other message signed with the key.

``key_id`` is the RFC 7638 JWK thumbprint of the public key, so any JOSE library computes
it from the key published at ``/api/v1/audit/checkpoint-keys``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from registry.domain import ledger, permissions
from registry.domain.errors import DomainError, InvalidArgument
from registry.domain.events import EventType, record
from registry.domain.permissions import Action
from registry.domain.principal import Principal, system
from registry.orm import AuditChainHead, AuditEvent
from registry.orm.audit import GENESIS_HASH
from registry.orm.base import utcnow

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "urn:modelgate:audit-checkpoint:v1"
SUBJECT = "modelgate-audit-ledger"
EVENT = EventType.AUDIT_CHECKPOINT.value
EXTENSION = "modelgate.audit_keyring"  # where an app keeps its Keyring
MAX_TIMESTAMP = 64 * 1024

log = logging.getLogger("modelgate.audit")


class Unavailable(DomainError):
    """Checkpoints need a signing key this installation was not given."""

    code = "UNAVAILABLE"


# --------------------------------------------------------------------------- keys


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


# --------------------------------------------------------------------------- checkpoints


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(seq: int, head_hash: str, at: str, kid: str) -> bytes:
    """The canonical in-toto Statement a checkpoint signs."""
    return ledger.canonical(
        {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": SUBJECT, "digest": {"sha256": head_hash}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {"seq": seq, "at": at, "key_id": kid},
        }
    )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str  # base64 of the Ed25519 signature over pae(PAYLOAD_TYPE, statement)
    # An RFC 3161 authority's answer stamping the signature's bytes (base64 DER), if any.
    rfc3161_timestamp: str | None = None

    @property
    def payload(self) -> bytes:
        return statement(self.seq, self.hash, self.at, self.key_id)

    def as_dict(self) -> dict[str, Any]:
        answer = {
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "key_id": self.key_id,
            "signature": self.signature,
            "envelope": {
                "payloadType": PAYLOAD_TYPE,
                "payload": base64.b64encode(self.payload).decode(),
                "signatures": [{"keyid": self.key_id, "sig": self.signature}],
            },
        }
        if self.rfc3161_timestamp is not None:
            answer["rfc3161_timestamp"] = self.rfc3161_timestamp
        return answer


def sign(keyring: Keyring, seq: int, head_hash: str, at: dt.datetime) -> Checkpoint:
    if keyring.signer is None:
        raise Unavailable(
            "Audit checkpoints are not available: this server has no signing key. Set "
            "MODELGATE_AUDIT_SIGNING_KEY (make one with `modelgate audit keygen`)."
        )
    kid = key_id(keyring.signer.public_key())
    when = ledger.format_time(at)
    signature = keyring.signer.sign(pae(PAYLOAD_TYPE, statement(seq, head_hash, when, kid)))
    stamp = None
    if keyring.timestamper is not None:
        from registry.clients.timestamping import TimestampError

        try:
            stamp = keyring.timestamper(signature)
        except TimestampError as exc:  # the checkpoint stands on its own signature
            log.warning("checkpoint at seq %s is not time-stamped: %s", seq, exc)
    return Checkpoint(seq, head_hash, when, kid, base64.b64encode(signature).decode(), stamp)


def issue(
    session: Session, principal: Principal, keyring: Keyring, now: dt.datetime | None = None
) -> Checkpoint:
    """A signed checkpoint of the chain's head as committed now."""
    permissions.require(principal, Action.READ_AUDIT)
    head = session.get(AuditChainHead, ledger.HEAD_ID)
    seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    return sign(keyring, seq, head_hash, now or utcnow())


def parse(document: object) -> Checkpoint:
    """A checkpoint from what was saved: the answer of GET /api/v1/audit/checkpoint, or the
    body of an ``audit.checkpoint`` webhook delivery. Raises InvalidArgument."""
    if isinstance(document, dict) and document.get("type") == EVENT:
        document = (document.get("data") or {}).get("checkpoint")
    if isinstance(document, dict) and "checkpoint" in document and "seq" not in document:
        document = document["checkpoint"]
    if not isinstance(document, dict):
        raise InvalidArgument("A checkpoint must be a JSON object.", field="checkpoint")
    seq, head_hash = document.get("seq"), document.get("hash")
    at, kid, signature = document.get("at"), document.get("key_id"), document.get("signature")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise InvalidArgument("checkpoint.seq must be a whole number.", field="seq")
    if not isinstance(head_hash, str) or len(head_hash) != 64:
        raise InvalidArgument("checkpoint.hash must be a SHA-256 in hex.", field="hash")
    for name, value in (("at", at), ("key_id", kid), ("signature", signature)):
        if not isinstance(value, str) or not value or len(value) > 256:
            raise InvalidArgument(f"checkpoint.{name} must be a string.", field=name)
    stamp = document.get("rfc3161_timestamp")
    if stamp is not None and (not isinstance(stamp, str) or len(stamp) > MAX_TIMESTAMP):
        raise InvalidArgument(
            "checkpoint.rfc3161_timestamp must be base64 text.", field="rfc3161_timestamp"
        )
    return Checkpoint(seq, head_hash, at, kid, signature, stamp)  # type: ignore[arg-type]


def signature_problem(checkpoint: Checkpoint, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """None when the checkpoint carries a good signature by one of ``keys``; else why not."""
    key = keys.get(checkpoint.key_id)
    if key is None:
        known = ", ".join(sorted(keys)) or "none"
        return (
            f"the checkpoint was signed with key {checkpoint.key_id}, which is not among the "
            f"keys trusted here ({known}); pass its public key (--public-key), or list a "
            "retired key in MODELGATE_AUDIT_PUBLIC_KEYS"
        )
    try:
        key.verify(base64.b64decode(checkpoint.signature, validate=True), _signed(checkpoint))
    except (InvalidSignature, binascii.Error, ValueError):
        return (
            f"the checkpoint's signature does not verify with key {checkpoint.key_id}: its "
            "seq, hash or time were altered, or it was never issued by this registry"
        )
    return None


def _signed(checkpoint: Checkpoint) -> bytes:
    return pae(PAYLOAD_TYPE, checkpoint.payload)


def timestamp_problem(checkpoint: Checkpoint, roots: Sequence[Any]) -> tuple[str | None, Any]:
    """(why the checkpoint's RFC 3161 stamp fails, or None; when it says the signature
    existed). Call only for a checkpoint with a stamp and a good signature."""
    from registry.clients.timestamping import TimestampError, verify

    try:
        when = verify(
            checkpoint.rfc3161_timestamp or "", base64.b64decode(checkpoint.signature), roots
        )
    except TimestampError as exc:
        return f"the checkpoint's RFC 3161 time-stamp fails: {exc}", None
    return None, when


# --------------------------------------------------------------------------- publication


def publish(
    session: Session,
    keyring: Keyring,
    *,
    min_interval: float,
    now: dt.datetime | None = None,
) -> Checkpoint | None:
    """Record an ``audit.checkpoint`` event carrying a signed checkpoint of the head, so
    webhook subscribers receive a copy; None when there is nothing new to sign.

    The event itself moves the head, so "nothing new" means the newest event is the last
    checkpoint. The checkpoint is signed (and time-stamped, a network call) before the chain
    lock is taken, so writers never wait on an authority; under the lock the last
    checkpoint is looked at again, so processes publishing at once (an embedded thread in
    each API process) record one between them. Events recorded meanwhile only mean the
    checkpoint names a head a little before its own event, which verify expects. The caller
    commits.
    """
    if keyring.signer is None:
        return None
    now = now or utcnow()
    head = session.execute(
        sa.select(AuditChainHead.seq, AuditChainHead.hash).where(
            AuditChainHead.id == ledger.HEAD_ID
        )
    ).one_or_none()
    if head is None or head.seq == 0 or _published_since(session, head.seq, now, min_interval):
        return None
    checkpoint = sign(keyring, head.seq, head.hash, now)
    ledger.lock_chain(session)
    if _published_since(session, head.seq, now, min_interval):
        return None
    record(session, EVENT, system(), data={"checkpoint": checkpoint.as_dict()})
    return checkpoint


def _published_since(session: Session, head_seq: int, now: dt.datetime, gap: float) -> bool:
    """Whether the last checkpoint already covers ``head_seq``, or is younger than ``gap``."""
    last = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.at)
        .where(AuditEvent.event == EVENT)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).one_or_none()
    return last is not None and (
        last.seq >= head_seq or _aware(last.at) > now - dt.timedelta(seconds=gap)
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
