"""Berry's tables: conversations, their messages, and the editable prompts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column, utcnow
from berrys.services.chat.contracts import ChatIntent, ChatRole


class ChatSession(UUIDPrimaryKey, Timestamps, Base):
    """One conversation of one user with Berry."""

    __tablename__ = "chat_session"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200), default="")
    # The project the conversation is about ("now plan it"): set by creating or naming one.
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL")
    )
    # pending_action: an action waiting for the user's confirmation
    session_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ChatMessage(UUIDPrimaryKey, Base):
    __tablename__ = "chat_message"
    __table_args__ = (Index("ix_chat_message_session_created", "session_id", "created_at"),)

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chat_session.id", ondelete="CASCADE"))
    role: Mapped[ChatRole] = mapped_column(enum_column(ChatRole))
    content: Mapped[str] = mapped_column(Text)
    intent: Mapped[ChatIntent | None] = mapped_column(enum_column(ChatIntent))
    # [{type, status, result}] as returned by the API
    actions: Mapped[list[Any]] = mapped_column(default=list)
    # source of the intent (provider, model, fallback), the project in context
    message_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatPrompt(Base):
    """An editable prompt of Berry (persona, intent instructions, help), by name."""

    __tablename__ = "chat_prompt"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
