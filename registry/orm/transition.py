"""Transition requests (every stage change, applied at once or awaiting approval), their
approvals, and the comments people leave on versions and requests."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.orm.base import Base


class TransitionRequest(Base):
    __tablename__ = "transition_requests"
    __table_args__ = (
        # At most one open request per version and target stage, enforced by the database.
        sa.Index(
            "uq_transition_requests_one_pending",
            "version_id",
            "to_stage",
            unique=True,
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        ),
        sa.Index("ix_transition_requests_state_id", "state", "id"),
        sa.Index("ix_transition_requests_model_id_id", "model_id", "id"),
        sa.CheckConstraint(
            "state IN ('pending', 'applied', 'rejected', 'cancelled', 'expired')",
            name="state_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("registered_models.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    from_stage: Mapped[str] = mapped_column(sa.String(16))
    to_stage: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16))
    requested_by: Mapped[str] = mapped_column(sa.String(256))
    # The person behind requested_by (a token's owner): self-approval compares people.
    requested_by_person: Mapped[str] = mapped_column(sa.String(256))
    requested_at: Mapped[dt.datetime]
    comment: Mapped[str | None] = mapped_column(sa.Text)
    archive_existing_versions: Mapped[bool] = mapped_column(default=False)
    required_approvals: Mapped[int] = mapped_column(default=0)
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(sa.String(256))
    # Versions this request archived when it was applied, for the stage-change event and
    # the stage history.
    archived_versions: Mapped[list[int] | None] = mapped_column(sa.JSON)
    policy: Mapped[str | None] = mapped_column(sa.String(64))
    expires_at: Mapped[dt.datetime | None]
    decision_comment: Mapped[str | None] = mapped_column(sa.Text)
    # An admin's justification for overriding freeze windows; marks the request for good.
    # The override covers only the windows open when it was given, for BREAK_GLASS_VALIDITY.
    break_glass: Mapped[str | None] = mapped_column(sa.Text)
    break_glass_at: Mapped[dt.datetime | None]
    break_glass_windows: Mapped[list[str] | None] = mapped_column(sa.JSON)

    approvals: Mapped[list[Approval]] = relationship(
        back_populates="request",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Approval.id",
    )


class Approval(Base):
    """One person's approval of one request; a person approves a request once."""

    __tablename__ = "approvals"
    __table_args__ = (sa.UniqueConstraint("request_id", "by"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("transition_requests.id", ondelete="CASCADE")
    )
    by: Mapped[str] = mapped_column(sa.String(256))
    # The person behind ``by``: two tokens of one owner are one approver.
    person: Mapped[str] = mapped_column(sa.String(256))
    at: Mapped[dt.datetime]
    comment: Mapped[str | None] = mapped_column(sa.Text)

    request: Mapped[TransitionRequest] = relationship(back_populates="approvals")


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (sa.Index("ix_comments_version_id_id", "version_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("registered_models.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("model_versions.id", ondelete="CASCADE"))
    request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("transition_requests.id", ondelete="SET NULL")
    )
    author: Mapped[str] = mapped_column(sa.String(256))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime]
