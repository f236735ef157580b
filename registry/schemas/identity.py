"""Identity on the wire: the caller, API tokens and role bindings."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.schemas.common import ShownOnce, UTCTime

ROLES = ["viewer", "contributor", "approver", "auditor", "admin"]
STAGES = ["None", "Staging", "Production", "Archived"]
TOKEN_STATES = ["active", "pending", "revoked", "expired"]


class GrantOut(ma.Schema):
    role = fields.String(metadata={"enum": ROLES})
    model_pattern = fields.String()
    stages = fields.List(fields.String(), allow_none=True)


class MeOut(ma.Schema):
    subject = fields.String()
    kind = fields.String(metadata={"enum": ["user", "service"]})
    person = fields.String(
        metadata={
            "description": "The person you act for: your user id, or the owner of the token; "
            "four-eyes rules count people."
        }
    )
    roles = fields.List(fields.String())
    groups = fields.List(fields.String())
    grants = fields.List(fields.Nested(GrantOut))


class TokenIn(ma.Schema):
    name = fields.String(required=True, metadata={"description": "The service account."})
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(min=1),
    )
    stages = fields.List(
        fields.String(),
        metadata={"description": "For approver: the stages it may approve into (all if absent)."},
    )
    model_pattern = fields.String(load_default="*")
    expires_at = UTCTime(metadata={"description": "RFC 3339; never expires if absent."})
    owner = fields.String(
        metadata={
            "description": "The person who answers for it, user:<subject> (default: you, the "
            "person behind your token). Naming someone else makes the token wait for a "
            "second admin's approval."
        }
    )


class TokenOut(ShownOnce):
    SHOWN_ONCE = ("token",)
    id = fields.Integer()
    name = fields.String()
    token = fields.String(metadata={"description": "The secret: in the creation answer only."})
    prefix = fields.String(metadata={"description": "The token's first characters."})
    owner = fields.String()
    roles = fields.List(fields.String())
    stages = fields.List(fields.String(), allow_none=True)
    model_pattern = fields.String()
    grants = fields.List(fields.Nested(GrantOut))
    created_at = UTCTime()
    created_by = fields.String()
    expires_at = UTCTime(allow_none=True)
    revoked_at = UTCTime(allow_none=True)
    last_used_at = UTCTime(allow_none=True)
    state = fields.String(
        metadata={
            "enum": TOKEN_STATES,
            "description": "pending: it awaits a second admin's approval "
            "(POST /tokens/{id}/approve) and authenticates as nothing until then.",
        }
    )
    approved_by = fields.String(allow_none=True)
    approved_at = UTCTime(allow_none=True)


class TokenListArgs(ma.Schema):
    name = fields.String()
    include_revoked = fields.Boolean(load_default=False)
    state = fields.String(validate=validate.OneOf(TOKEN_STATES))


class TokenList(ma.Schema):
    tokens = fields.List(fields.Nested(TokenOut), required=True)


class BindingIn(ma.Schema):
    subject = fields.String(
        required=True, metadata={"description": "user:<subject>, group:<name> or service:<name>"}
    )
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    stages = fields.List(fields.String())
    model_pattern = fields.String(load_default="*")


class BindingOut(ma.Schema):
    id = fields.Integer()
    subject = fields.String()
    role = fields.String()
    model_pattern = fields.String()
    stages = fields.List(fields.String(), allow_none=True)
    created_at = UTCTime()
    created_by = fields.String()
    state = fields.String(
        metadata={
            "enum": ["active", "pending"],
            "description": "pending: it awaits a second admin's approval "
            "(POST /role-bindings/{id}/approve) and grants nothing until then.",
        }
    )
    approved_by = fields.String(allow_none=True)
    approved_at = UTCTime(allow_none=True)


class BindingListArgs(ma.Schema):
    subject = fields.String()
    model = fields.String()


class BindingList(ma.Schema):
    role_bindings = fields.List(fields.Nested(BindingOut), required=True)
