"""Model versions on the wire."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from registry.schemas.common import PageArgs, StringMap, UTCTime


class VersionIn(ma.Schema):
    source = fields.String(
        required=True,
        metadata={
            "description": "Where the model's files are: a URI (s3://, runs:/, mlflow-artifacts:, "
            "file://...) or an absolute path. Modelgate never reads it."
        },
    )
    run_id = fields.String(allow_none=True)
    run_link = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    tags = StringMap()


class VersionPatchIn(ma.Schema):
    description = fields.String(allow_none=True)


class VersionOut(ma.Schema):
    name = fields.String(required=True)
    version = fields.Integer(required=True)
    source = fields.String()
    run_id = fields.String(allow_none=True)
    run_link = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    tags = StringMap()
    stage = fields.String(metadata={"enum": ["None", "Staging", "Production", "Archived"]})
    aliases = fields.List(fields.String())
    status = fields.String()
    created_at = UTCTime()
    updated_at = UTCTime()
    created_by = fields.String(allow_none=True)


class VersionListArgs(PageArgs):
    stage = fields.String(metadata={"description": "Only versions in this stage."})


class VersionPage(ma.Schema):
    versions = fields.List(fields.Nested(VersionOut), required=True)
    next_page_token = fields.String(allow_none=True)


class ResolveArgs(ma.Schema):
    uri = fields.String(
        required=True,
        metadata={
            "description": "models:/NAME/STAGE, models:/NAME/VERSION, models:/NAME/latest "
            "or models:/NAME@ALIAS"
        },
    )


class ResolvedOut(VersionOut):
    uri = fields.String(metadata={"description": "The version pinned: models:/NAME/VERSION."})
