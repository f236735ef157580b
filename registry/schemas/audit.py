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


class VerificationOut(ma.Schema):
    ok = fields.Boolean()
    events_checked = fields.Integer()
    first_bad_seq = fields.Integer(allow_none=True)
    problem = fields.String(allow_none=True)


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
