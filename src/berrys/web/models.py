"""The dashboard's models page: the model registry and usage by model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from berrys.services.llm import registry
from berrys.services.projects import service as projects
from berrys.web.pages import _database
from berrys.web.security import WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)


def _bars(groups: list[Any], field: str) -> list[dict[str, Any]]:
    """Rows of a horizontal bar chart: each group's value as a percentage of the largest."""
    values = [float(getattr(g, field)) for g in groups]
    top = max(values, default=0.0) or 1.0
    return [
        {"key": g.key, "value": v, "width": round(100 * v / top, 2)}
        for g, v in zip(groups, values, strict=True)
    ]


@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request, user: WebUser) -> Response:
    """The model registry and usage: tokens, cost and latency by model."""
    async with _database(request).transaction(read_only=True) as session:
        models, total = await registry.get_all(session, limit=200, offset=0)
        visible = await projects.visible_ids(session, user=user)
        report = await registry.usage(session, user=user, project_ids=visible)
    by_model = report.by_model
    charts = [
        ("Tokens", "tokens", _bars_tokens(by_model)),
        ("Cost (USD)", "cost", _bars(by_model, "cost_usd")),
        ("Average latency (ms)", "latency", _bars(by_model, "latency_ms_avg")),
    ]
    return render(
        request,
        "models.html",
        models=models,
        total=total,
        report=report,
        charts=charts,
    )


def _bars_tokens(groups: list[Any]) -> list[dict[str, Any]]:
    totals = [g.prompt_tokens + g.completion_tokens for g in groups]
    top = max(totals, default=0) or 1
    return [
        {"key": g.key, "value": t, "width": round(100 * t / top, 2)}
        for g, t in zip(groups, totals, strict=True)
    ]
