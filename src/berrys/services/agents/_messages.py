"""Agent messages: hand-offs between agents (and from people), with a delivery status."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page, utcnow
from berrys.core.errors import Conflict, NotFound, Unprocessable
from berrys.core.lifecycle import Lifecycle
from berrys.services.agents import service
from berrys.services.agents.contracts import (
    AgentState,
    MessageCreate,
    MessageOut,
    MessageStatus,
    MessageStatusUpdate,
)
from berrys.services.agents.tables import Agent, AgentMessage
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut

M = MessageStatus
MESSAGE_TRANSITIONS = Lifecycle[MessageStatus](
    "Message",
    {
        M.CREATED: {M.DELIVERED, M.FAILED},
        M.DELIVERED: {M.PROCESSED, M.FAILED},
        M.PROCESSED: set(),
        M.FAILED: set(),
    },
)


async def _write(
    session: AsyncSession,
    *,
    to_agent: Agent,
    message_in: MessageCreate,
    sender_id: uuid.UUID | None,
) -> MessageOut:
    if to_agent.state == AgentState.TERMINATED:
        raise Conflict(f"Agent {to_agent.id} is TERMINATED and takes no messages")
    if message_in.from_agent_id is not None:
        sender = await session.get(Agent, message_in.from_agent_id)
        if sender is None or sender.project_id != to_agent.project_id:
            raise Unprocessable(
                f"from_agent_id {message_in.from_agent_id} is not an agent of this project"
            )
    message = AgentMessage(
        project_id=to_agent.project_id,
        from_agent_id=message_in.from_agent_id,
        to_agent_id=to_agent.id,
        sender_id=sender_id,
        subject=message_in.subject,
        content=message_in.content,
        payload=message_in.payload,
        status=MessageStatus.CREATED,
    )
    session.add(message)
    await session.flush()
    created = MessageOut.model_validate(message)
    await audit.record(
        session,
        entity_type="agent_message",
        entity_id=message.id,
        project_id=to_agent.project_id,
        action=AuditAction.CREATE,
        actor_id=sender_id,
        after={"to_agent_id": to_agent.id, "from_agent_id": message.from_agent_id},
    )
    return created


async def send(
    session: AsyncSession, *, agent_id: uuid.UUID, message_in: MessageCreate, user: UserOut
) -> MessageOut:
    """Send a message to an agent (from a person, or from another agent of the project)."""
    agent = await service.get_row(session, agent_id, user)
    return await _write(session, to_agent=agent, message_in=message_in, sender_id=user.id)


async def hand_off(
    session: AsyncSession,
    *,
    from_agent_id: uuid.UUID,
    to_agent_id: uuid.UUID,
    content: str,
    subject: str = "",
    payload: dict[str, Any] | None = None,
    actor_id: uuid.UUID | None = None,
) -> MessageOut:
    """A hand-off between two agents of one project, for the execution engine (which has
    checked access when the run started; ``actor_id`` is whom the run acts for)."""
    agent = await session.get(Agent, to_agent_id)
    if agent is None:
        raise NotFound.of("Agent", to_agent_id)
    message_in = MessageCreate(
        content=content, subject=subject, from_agent_id=from_agent_id, payload=payload or {}
    )
    return await _write(session, to_agent=agent, message_in=message_in, sender_id=actor_id)


async def get_all(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    user: UserOut,
    limit: int = 50,
    offset: int = 0,
    status: MessageStatus | None = None,
    direction: str = "inbox",
) -> tuple[list[MessageOut], int]:
    """Messages to (``inbox``), from (``outbox``) or either way (``all``), oldest first."""
    await service.get_row(session, agent_id, user)
    conditions: list[ColumnElement[bool]] = [
        {
            "inbox": AgentMessage.to_agent_id == agent_id,
            "outbox": AgentMessage.from_agent_id == agent_id,
        }.get(
            direction,
            or_(AgentMessage.to_agent_id == agent_id, AgentMessage.from_agent_id == agent_id),
        )
    ]
    if status is not None:
        conditions.append(AgentMessage.status == status)
    rows, total = await fetch_page(
        session,
        select(AgentMessage).where(*conditions).order_by(AgentMessage.created_at, AgentMessage.id),
        limit=limit,
        offset=offset,
    )
    return [MessageOut.model_validate(row) for row in rows], total


async def update(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    message_id: uuid.UUID,
    status_in: MessageStatusUpdate,
    user: UserOut,
) -> MessageOut:
    """Advance a message: CREATED -> DELIVERED -> PROCESSED, or to FAILED with an error."""
    await service.get_row(session, agent_id, user)
    message = await session.get(AgentMessage, message_id)
    if message is None or message.to_agent_id != agent_id:
        raise NotFound.of("Message", message_id)
    return await _advance(session, message, status_in, actor_id=user.id)


async def set_status(
    session: AsyncSession,
    *,
    message_id: uuid.UUID,
    status_in: MessageStatusUpdate,
    actor_id: uuid.UUID | None = None,
) -> MessageOut:
    """The engine's side of delivery: advance a message it handed off (no user check)."""
    message = await session.get(AgentMessage, message_id)
    if message is None:
        raise NotFound.of("Message", message_id)
    return await _advance(session, message, status_in, actor_id=actor_id)


async def _advance(
    session: AsyncSession,
    message: AgentMessage,
    status_in: MessageStatusUpdate,
    *,
    actor_id: uuid.UUID | None,
) -> MessageOut:
    current = MessageStatus(message.status)
    MESSAGE_TRANSITIONS.check(current, status_in.status)
    now = utcnow()
    message.status = status_in.status
    if status_in.status == M.DELIVERED:
        message.delivered_at = now
    elif status_in.status == M.PROCESSED:
        message.processed_at = now
    elif status_in.status == M.FAILED:
        message.error = status_in.error or "failed"
    await session.flush()
    await audit.record(
        session,
        entity_type="agent_message",
        entity_id=message.id,
        project_id=message.project_id,
        action=AuditAction.TRANSITION,
        actor_id=actor_id,
        before={"status": current},
        after={"status": message.status, "error": message.error},
    )
    return MessageOut.model_validate(message)
