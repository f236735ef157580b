"""Transition requests on the wire."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from registry.schemas.common import UTCTime

STAGES = ["None", "Staging", "Production", "Archived"]
STATES = ["pending", "applied", "rejected", "cancelled", "expired"]


class TransitionIn(ma.Schema):
    to_stage = fields.String(required=True, metadata={"enum": STAGES})
    comment = fields.String(allow_none=True)
    archive_existing_versions = fields.Boolean(
        allow_none=True,
        metadata={
            "description": "Archive the versions now in the target stage, in the same transaction."
        },
    )


class ApprovalOut(ma.Schema):
    by = fields.String()
    at = UTCTime()
    comment = fields.String(allow_none=True)


class TransitionOut(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String()
    version = fields.Integer()
    from_stage = fields.String(metadata={"enum": STAGES})
    to_stage = fields.String(metadata={"enum": STAGES})
    state = fields.String(metadata={"enum": STATES})
    requested_by = fields.String()
    requested_at = UTCTime()
    comment = fields.String(allow_none=True)
    archive_existing_versions = fields.Boolean()
    required_approvals = fields.Integer()
    approvals = fields.List(fields.Nested(ApprovalOut))
    decided_at = UTCTime(allow_none=True)
    decided_by = fields.String(allow_none=True)
    archived_versions = fields.List(fields.Integer())
