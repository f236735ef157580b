"""Comments on versions (and on the requests about them): for people and for automation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain import permissions, validation
from registry.domain.errors import InvalidArgument, NotFound
from registry.domain.events import EventType, record
from registry.domain.locking import lock_model, lock_version, lookup_name
from registry.domain.pagination import Page, check_max_results, paginate
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.orm import Comment, ModelVersion, RegisteredModel, TransitionRequest
from registry.orm.base import utcnow


@dataclass(frozen=True, slots=True)
class CommentInfo:
    id: int
    name: str
    version: int
    request_id: int | None
    author: str
    text: str
    created_at: dt.datetime


def add_comment(
    session: Session,
    principal: Principal,
    name: str,
    version: int,
    text: str,
    request_id: int | None = None,
) -> CommentInfo:
    """Comment on a version, optionally about one of its transition requests."""
    version = validation.version_number(version)
    body = validation.comment(text, "text")
    if not body or not body.strip():
        raise InvalidArgument("text must not be empty.", field="text")
    permissions.require(principal, Action.COMMENT, name)
    model = lock_model(session, name)
    row = lock_version(session, model, version)
    if request_id is not None:
        request_id = validation.row_id(request_id, f"Transition request {request_id} not found.")
        owner = session.execute(
            sa.select(TransitionRequest.version_id).where(TransitionRequest.id == request_id)
        ).scalar_one_or_none()
        if owner != row.id:
            raise NotFound(f"Transition request {request_id} of version {version} not found.")
    comment = Comment(
        model_id=model.id,
        version_id=row.id,
        request_id=request_id,
        author=principal.id,
        text=body,
        created_at=utcnow(),
    )
    session.add(comment)
    session.flush()
    record(
        session,
        EventType.COMMENT_CREATED,
        principal,
        model=model.name,
        version=version,
        data={"comment_id": comment.id, "request_id": request_id, "text": body},
    )
    return CommentInfo(
        comment.id, model.name, version, request_id, comment.author, body, comment.created_at
    )


def list_comments(
    session: Session,
    principal: Principal,
    name: str,
    version: int,
    *,
    max_results: int | None = None,
    after: dict[str, Any] | None = None,
) -> Page[CommentInfo]:
    """A version's comments, oldest first."""
    version = validation.version_number(version)
    limit = check_max_results(max_results)
    name = lookup_name(name)
    permissions.require(principal, Action.READ, name)
    row = session.execute(
        sa.select(ModelVersion.id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(RegisteredModel.name == name, ModelVersion.version == version)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"Model version {name!r} version {version} not found.")
    stmt = sa.select(Comment).where(Comment.version_id == row).order_by(Comment.id).limit(limit + 1)
    if after is not None:
        if not isinstance(after.get("id"), int):
            raise InvalidArgument("page_token is malformed.", field="page_token")
        stmt = stmt.where(Comment.id > after["id"])
    items = [
        CommentInfo(c.id, name, version, c.request_id, c.author, c.text, c.created_at)
        for c in session.execute(stmt).scalars()
    ]
    return paginate(items, limit, lambda c: {"id": c.id})
