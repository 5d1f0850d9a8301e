"""REST routes of the chat: conversations, their turns, and the prompts Berry speaks with."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import StreamingResponse

from berrys.core.contracts import ListOf
from berrys.core.deps import BackgroundDep, DatabaseDep, PageDep, Session
from berrys.services.auth.deps import AdminUser, CurrentUser
from berrys.services.chat import service
from berrys.services.chat.contracts import (
    ChatMessageCreate,
    ChatReply,
    ChatSessionCreate,
    ChatSessionDetail,
    ChatSessionOut,
    PromptName,
    PromptOut,
    PromptUpdate,
)
from berrys.services.llm.deps import ModelsDep

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])
EVENT_STREAM = "text/event-stream"


@router.post("/sessions", response_model=ChatSessionOut, status_code=status.HTTP_201_CREATED)
async def create_session(
    body: ChatSessionCreate, session: Session, user: CurrentUser
) -> ChatSessionOut:
    """Start a conversation with Berry."""
    return await service.create_session(session, user=user, session_in=body)


@router.get("/sessions", response_model=ListOf[ChatSessionOut])
async def list_sessions(
    session: Session, user: CurrentUser, page: PageDep
) -> ListOf[ChatSessionOut]:
    items, total = await service.get_sessions(
        session, user=user, limit=page.limit, offset=page.offset
    )
    return ListOf[ChatSessionOut](items=items, total=total)


@router.get("/sessions/{session_id}", response_model=ChatSessionDetail)
async def get_session(
    session_id: uuid.UUID, session: Session, user: CurrentUser
) -> ChatSessionDetail:
    return await service.get_session(session, session_id=session_id, user=user)


@router.post(
    "/sessions/{session_id}/messages",
    response_model=ChatReply,
    responses={200: {"content": {EVENT_STREAM: {}}, "description": "The reply, or its stream."}},
)
async def send_message(
    session_id: uuid.UUID,
    body: ChatMessageCreate,
    models: ModelsDep,
    database: DatabaseDep,
    background: BackgroundDep,
    user: CurrentUser,
    accept: Annotated[str | None, Header()] = None,
    stream: Annotated[bool, Query(description="Stream the reply as Server-Sent Events.")] = False,
) -> ChatReply | StreamingResponse:
    """Say something to Berry: ``{reply, actions}``; with ``Accept: text/event-stream`` (or
    ``?stream=true``) the events intent, action, delta (reply text) and done."""
    turn = await service.start_turn(
        database, session_id=session_id, user=user, content=body.content
    )
    if not (stream or EVENT_STREAM in (accept or "")):
        return await service.finish_turn(models, database, turn=turn, background=background)

    async def events() -> AsyncIterator[str]:
        async for event in service.stream_turn(models, database, turn=turn, background=background):
            yield service.sse(event)

    return StreamingResponse(
        events(), media_type=EVENT_STREAM, headers={"Cache-Control": "no-store"}
    )


@router.get("/prompts", response_model=list[PromptOut])
async def list_prompts(session: Session, _: CurrentUser) -> list[PromptOut]:
    """Berry's persona and prompt templates (stored, else the defaults)."""
    return await service.get_prompts(session)


@router.put("/prompts/{name}", response_model=PromptOut)
async def update_prompt(
    name: PromptName, body: PromptUpdate, session: Session, admin: AdminUser
) -> PromptOut:
    """Replace one of Berry's prompts (ADMIN only)."""
    return await service.update_prompt(session, name=name, content=body.content, user=admin)


@router.delete("/prompts/{name}", response_model=PromptOut)
async def reset_prompt(name: PromptName, session: Session, admin: AdminUser) -> PromptOut:
    """Go back to the default text (ADMIN only)."""
    return await service.reset_prompt(session, name=name, user=admin)
