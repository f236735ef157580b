"""Signing, parsing and checking checkpoints: an in-toto Statement of the chain's head in a
DSSE envelope, signed with Ed25519, optionally stamped by an RFC 3161 authority.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from registry.domain import ledger, permissions
from registry.domain.checkpoints.keys import Keyring, key_id
from registry.domain.errors import DomainError, InvalidArgument
from registry.domain.events import EventType
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.orm import AuditChainHead
from registry.orm.audit import GENESIS_HASH
from registry.orm.base import utcnow

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "urn:modelgate:audit-checkpoint:v1"
SUBJECT = "modelgate-audit-ledger"
EVENT = EventType.AUDIT_CHECKPOINT.value
MAX_TIMESTAMP = 64 * 1024

log = logging.getLogger("modelgate.audit")


class Unavailable(DomainError):
    """Checkpoints need a signing key this installation was not given."""

    code = "UNAVAILABLE"


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
