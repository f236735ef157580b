"""The audit ledger on the wire."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.schemas.common import PageArgs, UTCTime


class AuditArgs(PageArgs):
    model = fields.String()
    version = fields.Integer()
    actor = fields.String(metadata={"description": "e.g. user:alice or service:deployer"})
    event = fields.String(
        metadata={"description": "An event name, or a family: transition_request.*"}
    )
    since = UTCTime(metadata={"description": "Events at or after this time."})
    until = UTCTime(metadata={"description": "Events before this time."})


class ExportArgs(AuditArgs):
    format = fields.String(load_default="ndjson", validate=validate.OneOf(["ndjson", "csv"]))


class AuditEventOut(ma.Schema):
    seq = fields.Integer()
    at = fields.String(metadata={"description": "RFC 3339 UTC, microseconds: as hashed."})
    actor = fields.String()
    actor_kind = fields.String()
    event = fields.String()
    model = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)
    data = fields.Dict()
    request_id = fields.String(
        allow_none=True,
        metadata={"description": "Ours: the X-Request-ID the caller was answered with."},
    )
    client_request_id = fields.String(
        allow_none=True,
        metadata={"description": "The X-Request-ID the caller sent, if any (not verified)."},
    )
    prev_hash = fields.String()
    hash = fields.String()


class AuditPage(ma.Schema):
    events = fields.List(fields.Nested(AuditEventOut), required=True)
    next_page_token = fields.String(allow_none=True)


class EnvelopeSignature(ma.Schema):
    keyid = fields.String()
    sig = fields.String()


class Envelope(ma.Schema):
    """DSSE: the signed in-toto Statement, for tools that verify envelopes."""

    payloadType = fields.String()  # noqa: N815 - DSSE's own spelling
    payload = fields.String(metadata={"description": "base64 of the Statement's JSON."})
    signatures = fields.List(fields.Nested(EnvelopeSignature))


class CheckpointOut(ma.Schema):
    seq = fields.Integer(metadata={"description": "The chain head's sequence number."})
    hash = fields.String(metadata={"description": "The hash of the event at seq."})
    at = fields.String(metadata={"description": "When the checkpoint was signed (RFC 3339)."})
    key_id = fields.String(
        metadata={"description": "RFC 7638 thumbprint of the signing key (its kid)."}
    )
    signature = fields.String(metadata={"description": "base64 Ed25519 signature."})
    envelope = fields.Nested(Envelope)
    rfc3161_timestamp = fields.String(
        metadata={
            "description": "base64 DER of an RFC 3161 authority's answer stamping the "
            "signature, when MODELGATE_AUDIT_TSA_URL is set."
        }
    )


class CheckpointIn(ma.Schema):
    """A checkpoint saved earlier, exactly as GET /audit/checkpoint answered it."""

    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    hash = fields.String(required=True, validate=validate.Length(equal=64))
    at = fields.String(required=True, validate=validate.Length(min=1, max=64))
    key_id = fields.String(required=True, validate=validate.Length(min=1, max=256))
    signature = fields.String(required=True, validate=validate.Length(min=1, max=256))
    envelope = fields.Dict(
        metadata={"description": "Accepted as saved; the fields above are what is checked."}
    )
    rfc3161_timestamp = fields.String(validate=validate.Length(min=1, max=65536))


class JwkOut(ma.Schema):
    kty = fields.String()
    crv = fields.String()
    x = fields.String()
    kid = fields.String()
    use = fields.String()
    alg = fields.String()
    status = fields.String(metadata={"description": "current (signing now) or retired."})


class JwksOut(ma.Schema):
    keys = fields.List(fields.Nested(JwkOut))


class ProblemOut(ma.Schema):
    kind = fields.String()
    message = fields.String()
    seq = fields.Integer()
    request_id = fields.Integer(allow_none=True)
    model = fields.String()
    version = fields.Integer()


class CheckpointCheckOut(ma.Schema):
    seq = fields.Integer()
    hash = fields.String()
    key_id = fields.String()
    ok = fields.Boolean()
    problem = fields.String(allow_none=True)
    timestamp = fields.String(
        allow_none=True,
        metadata={"description": "RFC 3161 stamp: verified, not checked, or null (none)."},
    )
    timestamped_at = fields.String(allow_none=True)


class VerificationOut(ma.Schema):
    ok = fields.Boolean()
    events_checked = fields.Integer()
    first_bad_seq = fields.Integer(allow_none=True)
    problem = fields.String(allow_none=True)
    head_seq = fields.Integer(metadata={"description": "The chain head's seq."})
    head_hash = fields.String(metadata={"description": "The chain head's hash."})
    problems = fields.List(
        fields.Nested(ProblemOut),
        metadata={"description": "Where the ledger and the registry's tables disagree."},
    )
    checkpoints_checked = fields.Integer(
        metadata={"description": "audit.checkpoint events in the ledger that were checked."}
    )
    checkpoint = fields.Nested(
        CheckpointCheckOut,
        allow_none=True,
        metadata={"description": "The saved checkpoint checked against the ledger, if given."},
    )


class StageHistoryArgs(ma.Schema):
    at = UTCTime(metadata={"description": "The moment asked about (default: now)."})


class HolderOut(ma.Schema):
    version = fields.Integer()
    since = UTCTime()
    seq = fields.Integer(metadata={"description": "The audit event that put it there."})
    request_id = fields.Integer(allow_none=True)
    requested_by = fields.String(allow_none=True)
    approved_by = fields.List(fields.String())
    requested_by_person = fields.String(
        allow_none=True, metadata={"description": "The person behind requested_by."}
    )
    approved_by_people = fields.List(
        fields.String(),
        allow_none=True,
        metadata={"description": "The distinct people behind approved_by (token owners)."},
    )
    changed_by = fields.String(allow_none=True)


class StageHistoryOut(ma.Schema):
    name = fields.String()
    at = UTCTime()
    stages = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(HolderOut)))
