"""Trigger tables: schedules and each fire time claimed, webhooks, their deliveries (one per
webhook and run event) and every attempt to deliver one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column, utcnow
from berrys.services.alerts import service as alerts
from berrys.services.triggers.contracts import MissedFires, WebhookEvent


class Schedule(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "trigger_schedule"
    __table_args__ = (Index("ix_trigger_schedule_due", "enabled", "next_fire_at"),)

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    cron: Mapped[str] = mapped_column(String(200))
    missed: Mapped[MissedFires] = mapped_column(enum_column(MissedFires))
    max_catch_up: Mapped[int] = mapped_column(default=10)
    enabled: Mapped[bool] = mapped_column(default=True)
    next_fire_at: Mapped[datetime]
    last_fired_at: Mapped[datetime | None]
    # The runs start as this user, with their access as it is at each fire.
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class ScheduleFire(UUIDPrimaryKey, Base):
    """A fire time taken by one process: the unique key makes it happen once."""

    __tablename__ = "trigger_schedule_fire"
    __table_args__ = (UniqueConstraint("schedule_id", "fire_at"),)

    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("trigger_schedule.id", ondelete="CASCADE")
    )
    fire_at: Mapped[datetime]
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "trigger_webhook"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]] = mapped_column(default=list)
    # Encrypted like stored provider keys (core.encryption); only ever used to sign.
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Run events up to here were turned into deliveries (a few minutes behind the last
    # pass, so that a transaction committing late is still seen).
    scanned_until: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class WebhookDelivery(UUIDPrimaryKey, alerts.DeliveryColumns, Base):
    """One run event for one webhook, retried until delivered."""

    __tablename__ = "trigger_webhook_delivery"
    __table_args__ = (
        UniqueConstraint("webhook_id", "run_id", "event_seq"),
        Index("ix_trigger_webhook_delivery_due", "status", "next_attempt_at"),
    )

    webhook_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("trigger_webhook.id", ondelete="CASCADE")
    )
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[WebhookEvent] = mapped_column(enum_column(WebhookEvent))


class WebhookDeliveryAttempt(UUIDPrimaryKey, alerts.DeliveryAttemptColumns, Base):
    __tablename__ = "trigger_webhook_delivery_attempt"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("trigger_webhook_delivery.id", ondelete="CASCADE"), index=True
    )
