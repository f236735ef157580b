"""Transition requests: every stage change, applied at once or awaiting approval."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm.base import Base


class TransitionRequest(Base):
    __tablename__ = "transition_requests"
    __table_args__ = (
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
    requested_at: Mapped[dt.datetime]
    comment: Mapped[str | None] = mapped_column(sa.Text)
    archive_existing_versions: Mapped[bool] = mapped_column(default=False)
    required_approvals: Mapped[int] = mapped_column(default=0)
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(sa.String(256))
    # Versions this request archived when it was applied, for the stage-change event and
    # the stage history.
    archived_versions: Mapped[list[int] | None] = mapped_column(sa.JSON)
