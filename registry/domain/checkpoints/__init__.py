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

- :mod:`.keys`: the keys, their ids, and the :class:`Keyring`;
- :mod:`.signing`: the statement, signing, parsing and checking a checkpoint;
- :mod:`.publish`: the periodic ``audit.checkpoint`` event.

The names callers use are re-exported here: ``checkpoints.issue(...)``.
"""

from registry.domain.checkpoints.keys import (
    EXTENSION,
    Keyring,
    key_id,
    keyring_from,
    load_private,
    load_public_keys,
    new_private_pem,
    public_pem,
    raw_public,
)
from registry.domain.checkpoints.publish import publish
from registry.domain.checkpoints.signing import (
    EVENT,
    MAX_TIMESTAMP,
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    SUBJECT,
    Checkpoint,
    Unavailable,
    issue,
    pae,
    parse,
    sign,
    signature_problem,
    statement,
    timestamp_problem,
)

__all__ = [
    "EVENT",
    "EXTENSION",
    "MAX_TIMESTAMP",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "SUBJECT",
    "Checkpoint",
    "Keyring",
    "Unavailable",
    "issue",
    "key_id",
    "keyring_from",
    "load_private",
    "load_public_keys",
    "new_private_pem",
    "pae",
    "parse",
    "public_pem",
    "publish",
    "raw_public",
    "sign",
    "signature_problem",
    "statement",
    "timestamp_problem",
]
