"""Alert tables: rules, their episodes, the notifications of each episode and every attempt
to deliver one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column, utcnow
from berrys.services.alerts.contracts import (
    AlertKind,
    DeliveryChannel,
    DeliveryStatus,
    EpisodeEvent,
    EpisodeStatus,
)


class DeliveryColumns:
    """What a ``DeliveryQueue`` reads and writes on a deliveries table: alert notifications,
    run webhooks and publications to a webhook share these."""

    target: Mapped[str] = mapped_column(Text)
    # The body sent, fixed when the event happened: a retry sends the same notification.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryAttemptColumns:
    """One recorded attempt of a delivery (its table adds the reference to the delivery)."""

    attempt: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float]


class AlertRule(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "alert_rule"
    __table_args__ = (Index("ix_alert_rule_due", "enabled", "next_evaluation_at"),)

    name: Mapped[str] = mapped_column(String(200))
    # None: a global rule (every project), an ADMIN's.
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[AlertKind] = mapped_column(enum_column(AlertKind))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # Encrypted like stored provider keys (core.encryption); only ever used to sign.
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    email_to: Mapped[list[Any]] = mapped_column(default=list)
    next_evaluation_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_evaluated_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class AlertEpisode(UUIDPrimaryKey, Base):
    __tablename__ = "alert_episode"
    __table_args__ = (Index("ix_alert_episode_rule_status", "rule_id", "status"),)

    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alert_rule.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[AlertKind] = mapped_column(enum_column(AlertKind))
    status: Mapped[EpisodeStatus] = mapped_column(enum_column(EpisodeStatus), index=True)
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    acknowledged_at: Mapped[datetime | None]


class AlertDelivery(UUIDPrimaryKey, DeliveryColumns, Base):
    """One notification of one episode's event on one channel, retried until delivered."""

    __tablename__ = "alert_delivery"
    __table_args__ = (Index("ix_alert_delivery_due", "status", "next_attempt_at"),)

    episode_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_episode.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[DeliveryChannel] = mapped_column(enum_column(DeliveryChannel))
    event: Mapped[EpisodeEvent] = mapped_column(enum_column(EpisodeEvent))


class AlertDeliveryAttempt(UUIDPrimaryKey, DeliveryAttemptColumns, Base):
    __tablename__ = "alert_delivery_attempt"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_delivery.id", ondelete="CASCADE"), index=True
    )
