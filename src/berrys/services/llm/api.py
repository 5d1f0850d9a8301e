"""REST for Model Orchestration: the registry, chat, embeddings, usage and budgets."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse

from berrys.core.contracts import ListOf
from berrys.core.db import Database
from berrys.core.deps import DatabaseDep, PageDep, Session
from berrys.core.errors import BerrysError, Forbidden, Unprocessable
from berrys.services.agents import service as agents
from berrys.services.auth.contracts import UserOut, UserRole
from berrys.services.auth.deps import AdminUser, CurrentUser, WriterUser
from berrys.services.llm import service
from berrys.services.llm._runtime import Runtime
from berrys.services.llm.contracts import (
    BudgetOut,
    BudgetScope,
    BudgetSet,
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    EmbeddingRequest,
    EmbeddingResult,
    ModelCreate,
    ModelFeedback,
    ModelOut,
    ModelProvider,
    ModelTestResult,
    ModelUpdate,
    UsageReport,
)
from berrys.services.llm.deps import ModelsDep
from berrys.services.projects import service as projects

router = APIRouter(prefix="/api/v1/models", tags=["models"])


async def _check_access(database: DatabaseDep, user: UserOut, body: ChatRequest) -> ChatRequest:
    """The project and agent the chat is charged to, if the caller may see them (else
    NotFound); an agent's project stands in for a missing ``project_id``."""
    async with database.transaction(read_only=True) as session:
        if body.project_id is not None:
            await projects.get(session, project_id=body.project_id, user=user)
        if body.agent_id is None:
            return body
        agent = await agents.get(session, agent_id=body.agent_id, user=user)
    if body.project_id is None:
        return body.model_copy(update={"project_id": agent.project_id})
    if body.project_id != agent.project_id:
        raise Unprocessable(
            f"Agent {agent.id} belongs to project {agent.project_id}, not {body.project_id}"
        )
    return body


def _completion_request(body: ChatRequest, user: UserOut) -> CompletionRequest:
    return CompletionRequest(
        messages=body.messages,
        task_type=body.task_type,
        response_schema=body.response_schema,
        model=body.model,
        tools=body.tools,
        temperature=body.temperature,
        max_tokens=body.max_tokens,
        project_id=body.project_id,
        agent_id=body.agent_id,
        user_id=user.id,
        local_only=body.local_only,
    )


@router.get("", response_model=ListOf[ModelOut])
async def list_models(
    models: ModelsDep,
    database: DatabaseDep,
    user: CurrentUser,
    page: PageDep,
    provider: Annotated[ModelProvider | None, Query()] = None,
    enabled: Annotated[bool | None, Query()] = None,
) -> ListOf[ModelOut]:
    """The registry (the configured providers' models are added on first use)."""
    await service.ensure_registry(models, database)
    async with database.transaction(read_only=True) as session:
        items, total = await service.get_all(
            session, limit=page.limit, offset=page.offset, provider=provider, enabled=enabled
        )
    return ListOf[ModelOut](items=items, total=total)


@router.post("", response_model=ModelOut, status_code=status.HTTP_201_CREATED)
async def create_model(
    body: ModelCreate, models: ModelsDep, session: Session, user: AdminUser
) -> ModelOut:
    return await service.create(models, session, model_in=body, user=user)


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "The answer, or with `stream` its deltas then a `done` event.",
        }
    },
)
async def chat(
    body: ChatRequest, models: ModelsDep, database: DatabaseDep, user: WriterUser
) -> object:
    """Route a chat to the best model, falling back on failure; ``stream`` answers as SSE."""
    body = await _check_access(database, user, body)
    request = _completion_request(body, user)
    if body.stream:
        return StreamingResponse(_sse(models, database, request), media_type="text/event-stream")
    result = await service.complete(models, database, request)
    return ChatResponse.model_validate(result.model_dump(exclude={"request_hash"}))


async def _sse(
    models: Runtime, database: Database, request: CompletionRequest
) -> AsyncIterator[str]:
    try:
        async for chunk in service.stream(models, database, request):
            if chunk.done and chunk.completion is not None:
                payload = chunk.completion.model_dump(mode="json", exclude={"request_hash"})
                yield f"event: done\ndata: {json.dumps(payload)}\n\n"
            else:
                yield f"data: {json.dumps({'delta': chunk.delta})}\n\n"
    except BerrysError as exc:
        body = {"title": exc.title, "status": exc.status, "detail": exc.detail}
        yield f"event: error\ndata: {json.dumps(body)}\n\n"


@router.post("/embeddings", response_model=EmbeddingResult)
async def embeddings(body: EmbeddingRequest, models: ModelsDep, user: CurrentUser) -> object:
    return await service.embed(models, texts=body.input, model=body.model)


@router.get("/usage", response_model=UsageReport)
async def usage(
    session: Session,
    user: CurrentUser,
    project_id: Annotated[uuid.UUID | None, Query()] = None,
    agent_id: Annotated[uuid.UUID | None, Query()] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=0, le=200, description="Latest attempts listed.")] = 50,
) -> UsageReport:
    """Tokens, cost and latency by model, project and agent; the latest attempts."""
    visible_to = await projects.log_scope(session, user=user)
    if project_id is not None:
        await projects.get(session, project_id=project_id, user=user)
    return await service.usage(
        session,
        visible_to=visible_to,
        project_id=project_id,
        agent_id=agent_id,
        model=model,
        since=since,
        until=until,
        limit=limit,
    )


@router.get("/budgets", response_model=list[BudgetOut])
async def list_budgets(session: Session, user: CurrentUser) -> list[BudgetOut]:
    visible = await projects.visible_scope(session, user=user)
    return await service.get_budgets(session, project_ids=visible)


@router.put("/budgets", response_model=BudgetOut)
async def set_budget(
    body: BudgetSet, models: ModelsDep, session: Session, user: WriterUser
) -> BudgetOut:
    """A project's owner sets its budget; agent budgets and provider quotas are ADMIN's."""
    if body.scope == BudgetScope.PROJECT and body.project_id is not None:
        await projects.get(session, project_id=body.project_id, user=user)
    elif user.role != UserRole.ADMIN:
        raise Forbidden("Only an ADMIN may set agent budgets and provider quotas")
    return await service.set_budget(models, session, budget_in=body, user=user)


@router.delete("/budgets/{budget_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_budget(
    budget_id: uuid.UUID, models: ModelsDep, session: Session, user: AdminUser
) -> None:
    await service.delete_budget(models, session, budget_id=budget_id, user=user)


@router.get("/{model_id}", response_model=ModelOut)
async def get_model(model_id: uuid.UUID, session: Session, user: CurrentUser) -> ModelOut:
    return await service.get(session, model_id=model_id)


@router.patch("/{model_id}", response_model=ModelOut)
async def update_model(
    model_id: uuid.UUID, body: ModelUpdate, models: ModelsDep, session: Session, user: AdminUser
) -> ModelOut:
    return await service.update(models, session, model_id=model_id, model_in=body, user=user)


@router.delete("/{model_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_model(
    model_id: uuid.UUID, models: ModelsDep, session: Session, user: AdminUser
) -> None:
    await service.delete(models, session, model_id=model_id, user=user)


@router.post("/{model_id}/test", response_model=ModelTestResult)
async def test_model(
    model_id: uuid.UUID, models: ModelsDep, database: DatabaseDep, user: AdminUser
) -> object:
    """One small real call to this model alone (counted in usage): ok and the latency, or
    the provider's error. An ADMIN's: it spends the provider's tokens."""
    return await service.probe_model(models, database, model_id=model_id, user=user)


@router.post("/{model_id}/feedback", response_model=ModelOut)
async def model_feedback(
    model_id: uuid.UUID, body: ModelFeedback, models: ModelsDep, session: Session, user: WriterUser
) -> ModelOut:
    """A verdict on the model's answers (-1, 0, 1); the router ranks by it."""
    return await service.feedback(models, session, model_id=model_id, score=body.score, user=user)
