"""Chat with Berry: conversations, and replies streamed as Server-Sent Events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError

from berrys.core.deps import BackgroundDep
from berrys.services.chat import service as chat
from berrys.services.chat.contracts import ChatMessageCreate, ChatSessionCreate
from berrys.services.llm.deps import ModelsDep
from berrys.web.pages import _database, see_other
from berrys.web.security import Csrf, WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)
EVENT_STREAM = "text/event-stream"


@router.get("/chat", response_class=HTMLResponse)
async def chat_home(request: Request, user: WebUser) -> Response:
    async with _database(request).transaction(read_only=True) as session:
        sessions, _ = await chat.get_sessions(session, user=user, limit=50, offset=0)
    if sessions:
        return see_other(f"/chat/{sessions[0].id}")
    return render(request, "chat.html", sessions=[], conversation=None)


@router.post("/chat", dependencies=[Csrf], response_class=HTMLResponse)
async def new_conversation(
    request: Request,
    models: ModelsDep,
    background: BackgroundDep,
    user: WebUser,
    content: Annotated[str, Form(max_length=4000)] = "",
    project_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A new conversation; with a first message, Berry answers it before the page shows."""
    database = _database(request)
    try:
        about = uuid.UUID(project_id) if project_id else None
    except ValueError:
        about = None
    async with database.transaction() as session:
        created = await chat.create_session(
            session, user=user, session_in=ChatSessionCreate(project_id=about)
        )
    if content.strip():
        await chat.send(
            models,
            database,
            session_id=created.id,
            user=user,
            content=content.strip(),
            background=background,
        )
    return see_other(f"/chat/{created.id}")


@router.get("/chat/{session_id}", response_class=HTMLResponse)
async def conversation(request: Request, user: WebUser, session_id: uuid.UUID) -> Response:
    async with _database(request).transaction(read_only=True) as session:
        detail = await chat.get_session(session, session_id=session_id, user=user)
        sessions, _ = await chat.get_sessions(session, user=user, limit=50, offset=0)
    return render(request, "chat.html", sessions=sessions, conversation=detail)


@router.post("/chat/{session_id}/messages", dependencies=[Csrf], response_model=None)
async def say(
    request: Request,
    models: ModelsDep,
    background: BackgroundDep,
    user: WebUser,
    session_id: uuid.UUID,
    content: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """With ``Accept: text/event-stream`` the reply streams; otherwise the page reloads."""
    try:
        message = ChatMessageCreate(content=content)
    except ValidationError:
        return see_other(f"/chat/{session_id}")
    database = _database(request)
    turn = await chat.start_turn(
        database, session_id=session_id, user=user, content=message.content
    )
    if EVENT_STREAM not in request.headers.get("accept", ""):
        await chat.finish_turn(models, database, turn=turn, background=background)
        return see_other(f"/chat/{session_id}")

    async def events() -> AsyncIterator[str]:
        async for event in chat.stream_turn(models, database, turn=turn, background=background):
            yield chat.sse(event)

    return StreamingResponse(
        events(), media_type=EVENT_STREAM, headers={"Cache-Control": "no-store"}
    )
