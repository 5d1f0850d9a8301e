"""Human interactions: one common row, and one explicitly named table per type.

No ORM inheritance: ``human_interaction`` holds what every interaction has, and
``approval``, ``clarification``, ``feedback`` and ``notification`` each hold their own columns
with ``interaction_id`` as primary key and foreign key. The service joins them by hand, so
there is no polymorphic mapping to misconfigure.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, UUIDPrimaryKey, enum_column, utcnow
from berrys.core.enums import Priority
from berrys.services.interactions.contracts import (
    ApprovalSubject,
    EscalationRule,
    HumanInteractionType,
    InteractionStatus,
    NotificationLevel,
    RejectionPolicy,
)


class HumanInteraction(UUIDPrimaryKey, Base):
    __tablename__ = "human_interaction"
    __table_args__ = (Index("ix_human_interaction_status_expires", "status", "expires_at"),)

    type: Mapped[HumanInteractionType] = mapped_column(enum_column(HumanInteractionType))
    status: Mapped[InteractionStatus] = mapped_column(enum_column(InteractionStatus), index=True)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority))
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("run.id", ondelete="CASCADE"), index=True
    )
    task_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("task_run.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(300))
    prompt: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None]
    escalation: Mapped[EscalationRule] = mapped_column(enum_column(EscalationRule))
    escalations: Mapped[int] = mapped_column(default=0)
    on_reject: Mapped[RejectionPolicy] = mapped_column(enum_column(RejectionPolicy))
    responded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    responded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Approval(Base):
    __tablename__ = "approval"

    interaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("human_interaction.id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[ApprovalSubject] = mapped_column(enum_column(ApprovalSubject))
    # What is to be approved (plan estimate, tool and arguments, ...), shown to the person.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    approved: Mapped[bool | None]
    comment: Mapped[str | None] = mapped_column(Text)


class Clarification(Base):
    __tablename__ = "clarification"

    interaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("human_interaction.id", ondelete="CASCADE"), primary_key=True
    )
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[Any]] = mapped_column(default=list)
    answer: Mapped[str | None] = mapped_column(Text)


class Feedback(Base):
    __tablename__ = "feedback"

    interaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("human_interaction.id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(Text, default="")
    feedback: Mapped[str | None] = mapped_column(Text)


class Notification(Base):
    __tablename__ = "notification"

    interaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("human_interaction.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[NotificationLevel] = mapped_column(enum_column(NotificationLevel))
    message: Mapped[str] = mapped_column(Text)
    acknowledged: Mapped[bool] = mapped_column(default=False)
