"""Transition requests, approvals, comments and policies on the wire."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.schemas.common import PageArgs, UTCTime

STAGES = ["None", "Staging", "Production", "Archived"]
STATES = ["pending", "applied", "rejected", "cancelled", "expired"]

_BREAK_GLASS = {
    "description": "Admins only, during a freeze window: the justification for overriding it. "
    "Recorded in the audit trail and announced as transition_request.break_glass."
}


class TransitionIn(ma.Schema):
    to_stage = fields.String(required=True, metadata={"enum": STAGES})
    comment = fields.String(allow_none=True)
    archive_existing_versions = fields.Boolean(
        allow_none=True,
        metadata={
            "description": "Archive the versions now in the target stage, in the same transaction "
            "(default: the policy's)."
        },
    )
    break_glass = fields.String(metadata=_BREAK_GLASS)


class DecisionIn(ma.Schema):
    comment = fields.String(allow_none=True)


class ApproveIn(DecisionIn):
    break_glass = fields.String(metadata=_BREAK_GLASS)


class ApprovalOut(ma.Schema):
    by = fields.String()
    person = fields.String(
        metadata={"description": "The person behind `by` (a service token's owner)."}
    )
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
    requested_by_person = fields.String(
        metadata={
            "description": "The person behind `requested_by` (a service token's owner); "
            "four-eyes rules compare people."
        }
    )
    requested_at = UTCTime()
    comment = fields.String(allow_none=True)
    archive_existing_versions = fields.Boolean()
    required_approvals = fields.Integer()
    approvals = fields.List(fields.Nested(ApprovalOut))
    decided_at = UTCTime(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decision_comment = fields.String(allow_none=True)
    archived_versions = fields.List(fields.Integer())
    policy = fields.String(allow_none=True)
    expires_at = UTCTime(allow_none=True)
    break_glass = fields.String(
        allow_none=True,
        metadata={
            "description": "The justification, when an admin overrode a freeze for this request."
        },
    )
    available_actions = fields.List(
        fields.String(),
        metadata={"description": "What the caller may do now: approve, reject, cancel."},
    )


class TransitionListArgs(PageArgs):
    state = fields.String(validate=validate.OneOf(STATES))
    model = fields.String()


class TransitionPage(ma.Schema):
    transition_requests = fields.List(fields.Nested(TransitionOut), required=True)
    next_page_token = fields.String(allow_none=True)


class CommentIn(ma.Schema):
    text = fields.String(required=True)
    request_id = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "The transition request this comment is about, if any."},
    )


class CommentOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    version = fields.Integer()
    request_id = fields.Integer(allow_none=True)
    author = fields.String()
    text = fields.String()
    created_at = UTCTime()


class CommentPage(ma.Schema):
    comments = fields.List(fields.Nested(CommentOut), required=True)
    next_page_token = fields.String(allow_none=True)


class EvaluateIn(ma.Schema):
    name = fields.String(required=True)
    version = fields.Integer(required=True, strict=True)
    to_stage = fields.String(required=True, metadata={"enum": STAGES})
    archive_existing_versions = fields.Boolean(allow_none=True)


class EvaluationOut(ma.Schema):
    allowed = fields.Boolean()
    policy = fields.String(allow_none=True)
    required_approvals = fields.Integer()
    approvals_needed = fields.Integer(
        metadata={
            "description": "Approvals still needed once the caller's own counts (0: applies at "
            "once)."
        }
    )
    failed_checks = fields.List(fields.Dict())


class PolicySetOut(ma.Schema):
    digest = fields.String()
    files = fields.List(fields.String())
    policies = fields.List(fields.Dict())
    aliases = fields.List(fields.Dict(), metadata={"description": "Alias rules."})
    tokens = fields.Dict(
        metadata={
            "description": "Token and role-binding rules: the roles whose grant needs a "
            "second admin (second_admin_for_roles)."
        }
    )
    warnings = fields.List(
        fields.String(),
        metadata={
            "description": "What the set leaves ungoverned, e.g. aliases any contributor may move."
        },
    )
