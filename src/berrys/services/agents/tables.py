"""Tables of agents: agents with their state history, collaborations, templates, specialisations,
messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column, utcnow
from berrys.services.agents.contracts import AgentState, CollaborationType, MessageStatus
from berrys.services.catalogue.contracts import AgentType


class Agent(UUIDPrimaryKey, Timestamps, Base):
    """One agent of a project's team."""

    __tablename__ = "agent"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    agent_type: Mapped[AgentType] = mapped_column(enum_column(AgentType))
    role: Mapped[str] = mapped_column(String(200), default="")
    goal: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    prompt_template: Mapped[str] = mapped_column(Text, default="")
    # model_preference, temperature, budget_usd
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # skills, responsibilities, knowledge_domains, collaboration_patterns
    specialisation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[AgentState] = mapped_column(enum_column(AgentState), index=True)
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_template.id", ondelete="SET NULL")
    )
    template_version: Mapped[int | None]
    generated: Mapped[bool] = mapped_column(default=False)
    # the requirement texts that justified a generated agent
    requirements: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class AgentStateHistory(UUIDPrimaryKey, Base):
    """One row per lifecycle transition, creation included."""

    __tablename__ = "agent_state_history"

    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[AgentState | None] = mapped_column(enum_column(AgentState))
    to_state: Mapped[AgentState] = mapped_column(enum_column(AgentState))
    reason: Mapped[str | None] = mapped_column(Text)
    transitioned_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    transitioned_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentCollaboration(UUIDPrimaryKey, Base):
    """An edge of a project's collaboration graph: who hands work to whom, and how."""

    __tablename__ = "agent_collaboration"
    __table_args__ = (
        UniqueConstraint("from_agent_id", "to_agent_id", "interaction", name="uq_agent_collab"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    from_agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    to_agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    interaction: Mapped[CollaborationType] = mapped_column(enum_column(CollaborationType))
    description: Mapped[str] = mapped_column(Text, default="")


class AgentSpecialisation(UUIDPrimaryKey, Timestamps, Base):
    """What an agent of one type knows and does; seeded per AgentType, editable by admins."""

    __tablename__ = "agent_specialisation"

    agent_type: Mapped[AgentType] = mapped_column(enum_column(AgentType), unique=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    skills: Mapped[list[Any]] = mapped_column(default=list)
    responsibilities: Mapped[list[Any]] = mapped_column(default=list)
    knowledge_domains: Mapped[list[Any]] = mapped_column(default=list)
    collaboration_patterns: Mapped[list[Any]] = mapped_column(default=list)


class AgentTemplate(UUIDPrimaryKey, Timestamps, Base):
    """A named agent template; its content lives in immutable versions."""

    __tablename__ = "agent_template"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    agent_type: Mapped[AgentType] = mapped_column(enum_column(AgentType))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    current_version: Mapped[int] = mapped_column(default=1)
    is_system: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )


class AgentTemplateVersion(UUIDPrimaryKey, Base):
    """One immutable version of a template: written once, never updated."""

    __tablename__ = "agent_template_version"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_agent_template_version"),)

    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_template.id", ondelete="CASCADE")
    )
    version: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    change_note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentMessage(UUIDPrimaryKey, Base):
    """A message to an agent (from another agent, a person or the engine): hand-offs."""

    __tablename__ = "agent_message"
    __table_args__ = (Index("ix_agent_message_to_agent", "to_agent_id", "created_at"),)

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    from_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent.id", ondelete="SET NULL"), index=True
    )
    to_agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    sender_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
