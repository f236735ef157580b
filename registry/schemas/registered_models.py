"""Registered models on the wire."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from registry.schemas.common import PageArgs, StringMap, UTCTime


class ModelIn(ma.Schema):
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    tags = StringMap()


class ModelPatchIn(ma.Schema):
    description = fields.String(allow_none=True)
    new_name = fields.String()


class ModelOut(ma.Schema):
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    tags = StringMap()
    aliases = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "alias -> version"}
    )
    latest_versions = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "stage -> highest version in it"},
    )
    created_at = UTCTime()
    updated_at = UTCTime()
    created_by = fields.String(allow_none=True)


class ModelListArgs(PageArgs):
    filter = fields.String(metadata={"description": "Name glob: `*` any run, `?` one character."})
    tag = fields.List(
        fields.String(),
        metadata={"description": "`key=value`; repeat to require several tags."},
    )


class ModelPage(ma.Schema):
    models = fields.List(fields.Nested(ModelOut), required=True)
    next_page_token = fields.String(allow_none=True)


class AliasIn(ma.Schema):
    version = fields.Integer(required=True, strict=True)
