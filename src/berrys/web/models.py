"""The dashboard's models page: the registry with each model's usage, spend charts, and for
an ADMIN a form to add a model with its server and key, and a test call per model.

The usage line and the table count the same thing: the model calls this user may see,
grouped by provider and model. Calls answered by something outside the registry (the
offline drafts, scripted models, a removed model) get rows of their own, so the requests in
the table add up to the total above it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from berrys.core.errors import BerrysError
from berrys.services.auth.contracts import UserOut, UserRole
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import (
    ModelCapability,
    ModelCreate,
    ModelProvider,
    ModelTestResult,
)
from berrys.services.llm.deps import ModelsDep
from berrys.services.projects import service as projects
from berrys.web.pages import _database
from berrys.web.project_edits import field_errors
from berrys.web.security import Csrf, WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)

# What the add form offers, and what each field allows (said next to a refused field).
KINDS = {
    ModelProvider.OPENAI: "OpenAI, or an OpenAI-compatible server (vLLM, llama.cpp, LM Studio)",
    ModelProvider.ANTHROPIC: "Anthropic",
    ModelProvider.OLLAMA: "Ollama (its native API)",
}
ALLOWED = {
    "provider": ", ".join(kind.value for kind in KINDS),
    "name": "the model's name on that server, 1-200 characters",
    "base_url": "an http:// or https:// URL without credentials",
    "api_key": "printable ASCII without spaces, at most 500 characters",
    "context_window": "256 or more tokens",
}
# A model added here is offered for chat, tools and structured output, like a discovered one.
FULL_CHAT = [ModelCapability.CHAT, ModelCapability.TOOLS, ModelCapability.STRUCTURED_OUTPUT]


def _bars(groups: list[Any], field: str) -> list[dict[str, Any]]:
    """Rows of a horizontal bar chart: each group's value as a percentage of the largest."""
    values = [float(getattr(g, field)) for g in groups]
    top = max(values, default=0.0) or 1.0
    return [
        {"key": g.key, "value": v, "width": round(100 * v / top, 2)}
        for g, v in zip(groups, values, strict=True)
    ]


def _bars_tokens(groups: list[Any]) -> list[dict[str, Any]]:
    totals = [g.prompt_tokens + g.completion_tokens for g in groups]
    top = max(totals, default=0) or 1
    return [
        {"key": g.key, "value": t, "width": round(100 * t / top, 2)}
        for g, t in zip(groups, totals, strict=True)
    ]


async def _models_page(
    request: Request,
    user: UserOut,
    status_code: int = 200,
    tested: dict[uuid.UUID, ModelTestResult] | None = None,
    **extra: Any,
) -> Response:
    async with _database(request).transaction(read_only=True) as session:
        models, total = await llm.get_all(session, limit=200, offset=0)
        report = await llm.usage(session, visible_to=await projects.log_scope(session, user=user))
    used = {group.key: group for group in report.by_provider_model}
    registered = {f"{m.provider.value}/{m.name}" for m in models}
    charts = [
        ("Tokens", "tokens", _bars_tokens(report.by_model)),
        ("Cost (USD)", "cost", _bars(report.by_model, "cost_usd")),
        ("Average latency (ms)", "latency", _bars(report.by_model, "latency_ms_avg")),
    ]
    return render(
        request,
        "models.html",
        status_code=status_code,
        models=models,
        total=total,
        report=report,
        used=used,
        unregistered=[group for key, group in used.items() if key not in registered],
        charts=charts,
        is_admin=user.role == UserRole.ADMIN,
        kinds=KINDS,
        tested=tested or {},
        values=extra.pop("values", {"provider": ModelProvider.OPENAI.value}),
        errors=extra.pop("errors", {}),
        **extra,
    )


@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request, user: WebUser) -> Response:
    """The model registry and usage: requests, tokens, cost and latency by model."""
    return await _models_page(request, user)


async def _refused(request: Request, user: UserOut) -> Response | None:
    """The models page saying no (403), unless ``user`` is an ADMIN."""
    if user.role == UserRole.ADMIN:
        return None
    flash = "Only an ADMIN may add or test models."
    return await _models_page(request, user, 403, flash=flash, flash_kind="error")


@router.post("/models", dependencies=[Csrf], response_class=HTMLResponse)
async def add_model(
    request: Request,
    models: ModelsDep,
    user: WebUser,
    provider: Annotated[str, Form(max_length=20)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    base_url: Annotated[str, Form(max_length=2000)] = "",
    api_key: Annotated[str, Form(max_length=2000)] = "",
    context_window: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Register a model with its server and key; the key is never put back in the page."""
    refused = await _refused(request, user)
    if refused is not None:
        return refused
    values = {
        "provider": provider,
        "name": name,
        "base_url": base_url,
        "context_window": context_window,
    }
    try:
        model_in = ModelCreate.model_validate(
            {
                "provider": provider,
                "name": name,
                "capabilities": FULL_CHAT,
                "base_url": base_url.strip() or None,
                "api_key": api_key.strip() or None,
                **({"context_window": context_window} if context_window.strip() else {}),
            }
        )
    except ValidationError as exc:
        errors = field_errors(exc, ALLOWED)
        return await _models_page(request, user, 422, values=values, errors=errors)
    try:
        async with _database(request).transaction() as session:
            created = await llm.create(models, session, model_in=model_in, user=user)
    except BerrysError as exc:
        return await _models_page(
            request, user, exc.status, values=values, errors={"name": exc.detail}
        )
    flash = (
        f"Added {created.provider.value}/{created.name} (API key: {created.api_key}). "
        "Test it below."
    )
    return await _models_page(request, user, flash=flash)


@router.post("/models/{model_id}/test", dependencies=[Csrf], response_class=HTMLResponse)
async def test_model(
    request: Request, models: ModelsDep, user: WebUser, model_id: uuid.UUID
) -> Response:
    """One small real call to the model; its result is shown in its row."""
    refused = await _refused(request, user)
    if refused is not None:
        return refused
    result = await llm.probe_model(models, _database(request), model_id=model_id, user=user)
    if result.ok:
        flash, kind = f"{result.model} answered in {result.latency_ms:.0f} ms.", "ok"
    else:
        flash, kind = f"{result.model} failed the test: {result.error}", "error"
    return await _models_page(
        request, user, tested={model_id: result}, flash=flash, flash_kind=kind
    )
