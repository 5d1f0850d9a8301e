"""Publishing tables: each publication (who asked, the approval, the target, where it went),
and the deliveries of the WEBHOOK target with every attempt (alerts' delivery columns)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column
from berrys.services.alerts import service as alerts
from berrys.services.publishing.contracts import PublicationStatus, PublicationTarget


class Publication(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "publication"
    __table_args__ = (Index("ix_publication_status_claim", "status", "claimed_until"),)

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    target: Mapped[PublicationTarget] = mapped_column(enum_column(PublicationTarget))
    status: Mapped[PublicationStatus] = mapped_column(enum_column(PublicationStatus))
    # The target's options as asked; a webhook's secret is kept encrypted below instead.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # The deliverables as the approver saw them (name, size, sha256): what goes out.
    files: Mapped[list[Any]] = mapped_column(default=list)
    interaction_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("human_interaction.id", ondelete="SET NULL")
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    approved_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    location: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # A process carrying it out holds it until then; past it, another process takes over.
    claimed_until: Mapped[datetime | None]
    published_at: Mapped[datetime | None]


class PublicationDelivery(UUIDPrimaryKey, alerts.DeliveryColumns, Base):
    """The manifest of a WEBHOOK publication, retried until delivered."""

    __tablename__ = "publication_delivery"
    __table_args__ = (Index("ix_publication_delivery_due", "status", "next_attempt_at"),)

    publication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publication.id", ondelete="CASCADE"), unique=True
    )


class PublicationDeliveryAttempt(UUIDPrimaryKey, alerts.DeliveryAttemptColumns, Base):
    __tablename__ = "publication_delivery_attempt"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publication_delivery.id", ondelete="CASCADE"), index=True
    )
