"""Models, versions, requests and comments as MLflow's JSON messages describe them.

What the client insists on: version numbers are strings, times are epoch milliseconds, every
version carries ``status`` (``READY``; a missing status makes the client poll for minutes),
tags and aliases are lists of objects, and string fields are strings, never null.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from registry.domain import manifests
from registry.domain.comments import CommentInfo
from registry.domain.readmodels import ModelInfo, VersionInfo
from registry.domain.transitions import TransitionInfo

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ONE_MS = dt.timedelta(milliseconds=1)

# Databricks names for what a caller may do with an open request (our available_actions).
REQUEST_ACTIONS = {
    "approve": "APPROVE_TRANSITION_REQUEST",
    "reject": "REJECT_TRANSITION_REQUEST",
    "cancel": "CANCEL_TRANSITION_REQUEST",
}


def millis(moment: dt.datetime) -> int:
    return (moment - EPOCH) // ONE_MS


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in sorted(tags.items())]


def version_tags(info: VersionInfo) -> list[dict[str, str]]:
    """The version's tags, with its digest as the reserved ``modelgate.digest`` tag (MLflow's
    messages have no field for it). A tag of that name from anywhere else (an import) is never
    shown: what a deployer reads there is Modelgate's record or nothing."""
    tags = {k: v for k, v in info.tags.items() if k != manifests.DIGEST_TAG}
    if info.digest is not None:
        tags[manifests.DIGEST_TAG] = info.digest
    return tag_list(tags)


def model_version(info: VersionInfo) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": info.name,
        "version": str(info.version),
        "creation_timestamp": millis(info.created_at),
        "last_updated_timestamp": millis(info.updated_at),
        "user_id": info.created_by or "",
        "current_stage": info.stage,
        "description": info.description or "",
        "source": info.source,
        "run_id": info.run_id or "",
        "run_link": info.run_link or "",
        "status": info.status,
        "tags": version_tags(info),
        "aliases": list(info.aliases),
    }
    if info.status_message:
        message["status_message"] = info.status_message
    return message


def registered_model(info: ModelInfo, latest: Sequence[VersionInfo]) -> dict[str, Any]:
    """``latest``: the highest version in each stage that has one (the client resolves
    ``models:/NAME/latest`` from these, so None and Archived count too)."""
    message: dict[str, Any] = {
        "name": info.name,
        "creation_timestamp": millis(info.created_at),
        "last_updated_timestamp": millis(info.updated_at),
        "user_id": info.created_by or "",
        "latest_versions": [model_version(v) for v in latest],
        "tags": tag_list(info.tags),
        "aliases": [
            {"alias": alias, "version": str(version)}
            for alias, version in sorted(info.aliases.items())
        ],
    }
    if info.description:  # MLflow leaves an empty description out
        message["description"] = info.description
    return message


def transition_request(info: TransitionInfo) -> dict[str, Any]:
    """A request as Databricks lists it, with our id and state besides."""
    return {
        "id": str(info.id),
        "activity_type": "REQUESTED_TRANSITION",
        "user_id": info.requested_by,
        "comment": info.comment or "",
        "from_stage": info.from_stage,
        "to_stage": info.to_stage,
        "creation_timestamp": millis(info.requested_at),
        "last_updated_timestamp": millis(info.decided_at or info.requested_at),
        "available_actions": [REQUEST_ACTIONS[a] for a in info.available_actions],
        "state": info.state,
    }


def activity(info: TransitionInfo, activity_type: str, user_id: str) -> dict[str, Any]:
    """The record of one action on a request (approve, reject, cancel), Databricks' Activity.
    Its ``id`` is the request's: our history is kept per request, not per activity."""
    at = info.decided_at or (info.approvals[-1].at if info.approvals else info.requested_at)
    comment = info.decision_comment
    if activity_type == "APPROVED_REQUEST":
        comment = next((a.comment for a in reversed(info.approvals) if a.by == user_id), None)
    return {
        "id": str(info.id),
        "activity_type": activity_type,
        "user_id": user_id,
        "comment": comment or "",
        "from_stage": info.from_stage,
        "to_stage": info.to_stage,
        "creation_timestamp": millis(at),
        "last_updated_timestamp": millis(at),
        "state": info.state,
    }


def comment(info: CommentInfo) -> dict[str, Any]:
    created = millis(info.created_at)
    return {
        "id": str(info.id),
        "user_id": info.author,
        "comment": info.text,
        "creation_timestamp": created,
        "last_updated_timestamp": created,
        # Comments cannot be edited or deleted here, so no EDIT_COMMENT or DELETE_COMMENT.
        "available_actions": [],
    }
