"""Model versions on the wire."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from registry.schemas.common import PageArgs, StringMap, UTCTime, utc_text


class VersionIn(ma.Schema):
    source = fields.String(
        required=True,
        metadata={
            "description": "Where the model's files are: a URI (s3://, runs:/, mlflow-artifacts:, "
            "file://...) or an absolute path. Modelgate reads only sources in its own artifact "
            "store (mlflow-artifacts:/<this model>/<path>), to record their digest."
        },
    )
    run_id = fields.String(allow_none=True)
    run_link = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    tags = StringMap()
    digest = fields.String(
        allow_none=True,
        metadata={
            "description": "For sources outside Modelgate's store: the model-signing digest of "
            "the files, sha256:<64 hex>. Refused for sources in the store, whose digest "
            "Modelgate computes."
        },
    )


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
    digest = fields.String(
        allow_none=True,
        metadata={
            "description": "sha256:<hex>: the OpenSSF model-signing digest of the version's "
            "files (recorded by Modelgate for its own store, else as the client gave it), or "
            "null when unknown."
        },
    )


def dump_version(info: Any) -> dict[str, Any]:
    """``VersionOut().dump(info)``, written out by hand for the hot reads (resolve, get a
    version), where marshmallow's dump costs more than the query. The unit tests hold the
    two equal, field for field, so ETags stay the same whichever produced the body."""
    return {
        "name": info.name,
        "version": info.version,
        "source": info.source,
        "run_id": info.run_id,
        "run_link": info.run_link,
        "description": info.description,
        "tags": dict(info.tags),
        "stage": info.stage,
        "aliases": list(info.aliases),
        "status": info.status,
        "created_at": utc_text(info.created_at),
        "updated_at": utc_text(info.updated_at),
        "created_by": info.created_by,
        "digest": info.digest,
    }


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


class ManifestOut(ma.Schema):
    """An in-toto Statement v1 with model-signing's v1.0 predicate, as that library signs it."""

    _type = fields.String(data_key="_type", metadata={"example": "https://in-toto.io/Statement/v1"})
    subject = fields.List(
        fields.Dict(),
        metadata={"description": 'One entry: the model\'s name and {"sha256": model digest}.'},
    )
    predicateType = fields.String(  # noqa: N815 - in-toto's field name
        metadata={"example": "https://model_signing/signature/v1.0"}
    )
    predicate = fields.Dict(
        metadata={
            "description": "serialization (how the files were hashed) and resources: each file's "
            "name (relative to the source), algorithm and digest."
        }
    )
