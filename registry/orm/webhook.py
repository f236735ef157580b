"""Webhook subscriptions, their outbox of deliveries, and every delivery attempt."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.orm.base import Base, Name


class Webhook(Base):
    """A subscriber: where to POST which events, for which models, signed with what.

    The signing secret must be read back to sign, so it is stored encrypted (not hashed).
    During a rotation the previous secret keeps signing too, until ``previous_expires_at``.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.Text)
    events: Mapped[list[str]] = mapped_column(sa.JSON)
    model_filter: Mapped[str] = mapped_column(Name(256), default="*")
    description: Mapped[str | None] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(default=True)
    databricks_signature: Mapped[bool] = mapped_column(default=False)
    secret: Mapped[str] = mapped_column(sa.Text)  # encrypted
    previous_secret: Mapped[str | None] = mapped_column(sa.Text)  # encrypted
    previous_expires_at: Mapped[dt.datetime | None]
    failure_streak: Mapped[int] = mapped_column(default=0)
    disabled_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(sa.String(256))
    updated_at: Mapped[dt.datetime]


class WebhookDelivery(Base):
    """One event for one subscriber: the outbox row, written in the change's transaction.

    ``body`` is fixed when the row is written, so every attempt sends the same bytes with the
    same ``message_id`` (the ``webhook-id`` header receivers de-duplicate on). A worker claims
    a delivery by setting ``lease_until``; a claim that lapses (a worker died mid-send) makes
    the delivery due again.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    event: Mapped[str] = mapped_column(sa.String(64))
    event_seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    model: Mapped[str | None] = mapped_column(Name(256))
    body: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    next_attempt_at: Mapped[dt.datetime]
    lease_until: Mapped[dt.datetime | None]
    enqueued_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)

    attempts_log: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="delivery",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="DeliveryAttempt.id",
    )


class DeliveryAttempt(Base):
    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (sa.Index("ix_webhook_delivery_attempts_delivery_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    at: Mapped[dt.datetime]
    status_code: Mapped[int | None]
    latency_ms: Mapped[float | None] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.Text)
    response_snippet: Mapped[str | None] = mapped_column(sa.Text)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempts_log")
