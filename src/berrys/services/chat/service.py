"""Berry: conversations, and the turn that takes a message to an intent, actions and a reply.

A turn never holds a transaction across the model call or an action: the user's message is
stored in one short transaction, the intent recognised outside any, each action runs in its
own unit of work through the owning service, and the reply is stored in a last one.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.background import Background
from berrys.core.db import Database, fetch_page, utcnow
from berrys.core.errors import NotFound
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.chat import _actions, _intents
from berrys.services.chat._prompts import DEFAULTS
from berrys.services.chat._turn import Turn
from berrys.services.chat.contracts import (
    ChatEvent,
    ChatMessageOut,
    ChatReply,
    ChatRole,
    ChatSessionCreate,
    ChatSessionDetail,
    ChatSessionOut,
    PendingAction,
    PromptOut,
)
from berrys.services.chat.tables import ChatMessage, ChatPrompt, ChatSession
from berrys.services.llm import service as llm
from berrys.services.projects import service as projects

__all__ = [
    "create_session",
    "finish_turn",
    "get_prompt",
    "get_prompts",
    "get_session",
    "get_sessions",
    "reset_prompt",
    "send",
    "sse",
    "start_turn",
    "stream_turn",
    "update_prompt",
]

HISTORY_MESSAGES = 10


def _session_out(row: ChatSession) -> ChatSessionOut:
    pending = (row.session_metadata or {}).get("pending_action")
    return ChatSessionOut(
        id=row.id,
        title=row.title,
        project_id=row.project_id,
        pending_action=PendingAction.model_validate(pending) if pending else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _session_row(session: AsyncSession, session_id: uuid.UUID, user: UserOut) -> ChatSession:
    row = await session.scalar(
        select(ChatSession).where(ChatSession.id == session_id, ChatSession.user_id == user.id)
    )
    if row is None:
        raise NotFound.of("Chat session", session_id)
    return row


async def create_session(
    session: AsyncSession, *, user: UserOut, session_in: ChatSessionCreate
) -> ChatSessionOut:
    """Start a conversation (about a project the user can see, when one is given)."""
    if session_in.project_id is not None:
        await projects.get(session, project_id=session_in.project_id, user=user)
    row = ChatSession(user_id=user.id, title=session_in.title, project_id=session_in.project_id)
    session.add(row)
    await session.flush()
    created = _session_out(row)
    await audit.record(
        session,
        entity_type="chat_session",
        entity_id=row.id,
        action=AuditAction.CREATE,
        actor_id=user.id,
        after=created,
    )
    return created


async def get_sessions(
    session: AsyncSession, *, user: UserOut, limit: int, offset: int
) -> tuple[list[ChatSessionOut], int]:
    """The user's own conversations, most recently active first."""
    condition = ChatSession.user_id == user.id
    rows, total = await fetch_page(
        session,
        select(ChatSession)
        .where(condition)
        .order_by(ChatSession.updated_at.desc(), ChatSession.id),
        limit=limit,
        offset=offset,
    )
    return [_session_out(row) for row in rows], total


async def get_session(
    session: AsyncSession, *, session_id: uuid.UUID, user: UserOut
) -> ChatSessionDetail:
    """One of the user's conversations with its messages, oldest first."""
    row = await _session_row(session, session_id, user)
    messages = await session.scalars(
        select(ChatMessage)
        .where(ChatMessage.session_id == row.id)
        .order_by(ChatMessage.created_at, ChatMessage.id)
    )
    return ChatSessionDetail(
        **_session_out(row).model_dump(),
        messages=[ChatMessageOut.model_validate(m) for m in messages],
    )


# --- prompts --------------------------------------------------------------------------------


async def get_prompts(session: AsyncSession) -> list[PromptOut]:
    """Every prompt of Berry: the stored version, else the default."""
    stored = {row.name: row for row in await session.scalars(select(ChatPrompt))}
    return [
        PromptOut(
            name=name,
            content=stored[name].content,
            is_default=False,
            updated_at=stored[name].updated_at,
            updated_by=stored[name].updated_by,
        )
        if name in stored
        else PromptOut(name=name, content=text, is_default=True)
        for name, text in DEFAULTS.items()
    ]


async def get_prompt(session: AsyncSession, *, name: str) -> PromptOut:
    for prompt in await get_prompts(session):
        if prompt.name == name:
            return prompt
    raise NotFound.of("Prompt", name)


async def update_prompt(
    session: AsyncSession, *, name: str, content: str, user: UserOut
) -> PromptOut:
    """Replace one of Berry's prompts (the persona, the intent instructions, ...)."""
    before = await get_prompt(session, name=name)
    row = await session.get(ChatPrompt, name)
    if row is None:
        row = ChatPrompt(name=name, content=content, updated_by=user.id)
        session.add(row)
    else:
        row.content, row.updated_by = content, user.id
    await session.flush()
    after = await get_prompt(session, name=name)
    await audit.record(
        session,
        entity_type="chat_prompt",
        entity_id=None,
        action=AuditAction.UPDATE,
        actor_id=user.id,
        before=before,
        after=after,
    )
    return after


async def reset_prompt(session: AsyncSession, *, name: str, user: UserOut) -> PromptOut:
    """Go back to the default text of a prompt."""
    before = await get_prompt(session, name=name)
    row = await session.get(ChatPrompt, name)
    if row is not None:
        await session.delete(row)
        await session.flush()
        await audit.record(
            session,
            entity_type="chat_prompt",
            entity_id=None,
            action=AuditAction.DELETE,
            actor_id=user.id,
            before=before,
        )
    return await get_prompt(session, name=name)


# --- a turn ---------------------------------------------------------------------------------


async def start_turn(
    database: Database, *, session_id: uuid.UUID, user: UserOut, content: str
) -> Turn:
    """Store the user's message and read the conversation (NotFound for another's session)."""
    async with database.transaction() as session:
        row = await _session_row(session, session_id, user)
        earlier = list(
            await session.scalars(
                select(ChatMessage)
                .where(ChatMessage.session_id == row.id)
                .order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc())
                .limit(HISTORY_MESSAGES)
            )
        )
        message = ChatMessage(session_id=row.id, role=ChatRole.USER, content=content)
        session.add(message)
        if not row.title:
            row.title = content[:80]
        row.updated_at = message.created_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            entity_type="chat_message",
            entity_id=message.id,
            action=AuditAction.CREATE,
            actor_id=user.id,
            after={"session_id": str(row.id), "role": ChatRole.USER.value},
        )
        visible, _ = await projects.get_all(session, user=user, limit=200, offset=0)
        prompts = {p.name: p.content for p in await get_prompts(session)}
        pending = (row.session_metadata or {}).get("pending_action")
        return Turn(
            session_id=row.id,
            user=user,
            content=content,
            user_message_id=message.id,
            history=[
                ("user" if m.role == ChatRole.USER else "assistant", m.content)
                for m in reversed(earlier)
            ],
            prompts=prompts,
            pending=PendingAction.model_validate(pending) if pending else None,
            project_id=row.project_id,
            projects={p.name: p.id for p in visible},
        )


async def _work(models: llm.Runtime, database: Database, turn: Turn) -> ChatReply:
    result, source = await _intents.recognise(
        models,
        database,
        content=turn.content,
        history=turn.history,
        instructions=turn.prompts["intent"],
        persona=turn.prompts["persona"],
        pending=turn.pending is not None,
        project_names=list(turn.projects),
    )
    outcome = await _actions.dispatch(models, database, turn=turn, intent=result)
    async with database.transaction() as session:
        row = await _session_row(session, turn.session_id, turn.user)
        reply = ChatMessage(
            session_id=row.id,
            role=ChatRole.ASSISTANT,
            content=outcome.reply,
            intent=result.intent,
            actions=[a.model_dump(mode="json") for a in outcome.actions],
            message_metadata={
                "source": source.model_dump(mode="json"),
                "project_id": str(outcome.project_id) if outcome.project_id else None,
            },
        )
        session.add(reply)
        metadata = dict(row.session_metadata or {})
        if outcome.pending is not None:
            metadata["pending_action"] = outcome.pending.model_dump(mode="json")
        else:
            metadata.pop("pending_action", None)
        row.session_metadata = metadata
        if outcome.project_id is not None:
            row.project_id = outcome.project_id
        row.updated_at = reply.created_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            entity_type="chat_message",
            entity_id=reply.id,
            action=AuditAction.CREATE,
            actor_id=turn.user.id,
            after={
                "session_id": str(row.id),
                "role": ChatRole.ASSISTANT.value,
                "intent": result.intent.value,
                "actions": [a.model_dump(mode="json") for a in outcome.actions],
            },
        )
        message = ChatMessageOut.model_validate(reply)
    return ChatReply(
        session_id=turn.session_id,
        intent=result.intent,
        reply=outcome.reply,
        actions=outcome.actions,
        message=message,
        user_message_id=turn.user_message_id,
    )


async def finish_turn(
    models: llm.Runtime, database: Database, *, turn: Turn, background: Background
) -> ChatReply:
    """Recognise, act, store the reply. Runs to its end in ``background`` even if the caller
    goes away (until the application closes it)."""
    return await asyncio.shield(background.start(_work(models, database, turn)))


def _chunks(text: str, words: int = 3) -> list[str]:
    parts = text.split(" ")
    return [" ".join(parts[i : i + words]) + " " for i in range(0, len(parts), words)]


async def stream_turn(
    models: llm.Runtime, database: Database, *, turn: Turn, background: Background
) -> AsyncIterator[ChatEvent]:
    """The turn as events: intent, each action, the reply in pieces, then done."""
    reply = await finish_turn(models, database, turn=turn, background=background)
    yield ChatEvent(event="intent", data={"intent": reply.intent.value})
    for action in reply.actions:
        yield ChatEvent(event="action", data=action.model_dump(mode="json"))
    pieces = _chunks(reply.reply)
    for index, piece in enumerate(pieces):
        text = piece if index < len(pieces) - 1 else piece.rstrip(" ")
        yield ChatEvent(event="delta", data={"text": text})
        await asyncio.sleep(0)
    yield ChatEvent(event="done", data=reply.model_dump(mode="json"))


async def send(
    models: llm.Runtime,
    database: Database,
    *,
    session_id: uuid.UUID,
    user: UserOut,
    content: str,
    background: Background,
) -> ChatReply:
    """One message in, Berry's whole reply out."""
    turn = await start_turn(database, session_id=session_id, user=user, content=content)
    return await finish_turn(models, database, turn=turn, background=background)


def sse(event: ChatEvent) -> str:
    """One event in the text/event-stream wire format."""
    return f"event: {event.event}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"
