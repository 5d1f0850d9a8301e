"""Accounting: ``model_request`` rows, budgets and quotas checked before spending, usage."""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.errors import BudgetExceeded
from berrys.services.llm._providers.base import ModelSpec
from berrys.services.llm._router import AttemptRecord
from berrys.services.llm._runtime import REGISTRY_TTL_SECONDS, Runtime
from berrys.services.llm.contracts import (
    BudgetPeriod,
    BudgetScope,
    CompletionRequest,
    ModelRequestOut,
    ModelRequestOutcome,
    UsageGroup,
    UsageReport,
)
from berrys.services.llm.tables import LlmModel, ModelBudget, ModelRequest

_INSERT_REQUEST = insert(ModelRequest.__table__)


@dataclass(slots=True)
class BudgetLine:
    id: uuid.UUID
    scope: BudgetScope
    project_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    provider: Any
    period: BudgetPeriod
    limit_usd: float | None
    limit_tokens: int | None

    def describe(self) -> str:
        if self.scope == BudgetScope.PROJECT:
            return f"project {self.project_id}"
        if self.scope == BudgetScope.AGENT:
            return f"agent {self.agent_id}"
        return f"provider {self.provider} ({self.period.lower()} quota)"


def start_of_day() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def spent_query(line: BudgetLine) -> Select[float, int]:
    query = select(
        func.coalesce(func.sum(ModelRequest.cost_usd), 0.0),
        func.coalesce(func.sum(ModelRequest.prompt_tokens + ModelRequest.completion_tokens), 0),
    )
    if line.scope == BudgetScope.PROJECT:
        query = query.where(ModelRequest.project_id == line.project_id)
    elif line.scope == BudgetScope.AGENT:
        query = query.where(ModelRequest.agent_id == line.agent_id)
    else:
        query = query.where(ModelRequest.provider == line.provider)
    if line.period == BudgetPeriod.DAILY:
        query = query.where(ModelRequest.created_at >= start_of_day())
    return query


async def _budget_lines(database: Database, runtime: Runtime) -> list[BudgetLine]:
    cached = runtime.budgets.get(database.url)
    if cached is not None and time.monotonic() - cached[0] < REGISTRY_TTL_SECONDS:
        return cached[1]
    async with database.transaction(read_only=True) as session:
        rows = await session.scalars(select(ModelBudget))
        lines = [
            BudgetLine(
                id=row.id,
                scope=row.scope,
                project_id=row.project_id,
                agent_id=row.agent_id,
                provider=row.provider,
                period=row.period,
                limit_usd=row.limit_usd,
                limit_tokens=row.limit_tokens,
            )
            for row in rows
        ]
    runtime.budgets[database.url] = (time.monotonic(), lines)
    return lines


class Guard:
    """Budgets that apply to one call, with what each has spent so far."""

    def __init__(self, lines: list[tuple[BudgetLine, float, int]]) -> None:
        self.lines = lines
        self.refusals: list[str] = []

    async def __call__(self, spec: ModelSpec, cost: float, tokens: int) -> str | None:
        for line, spent_usd, spent_tokens in self.lines:
            if line.scope == BudgetScope.PROVIDER and line.provider != spec.provider:
                continue
            if cost == 0 and line.scope != BudgetScope.PROVIDER and line.limit_tokens is None:
                continue
            if line.limit_usd is not None and spent_usd + cost > line.limit_usd:
                refusal = (
                    f"would exceed the {line.describe()} budget "
                    f"(${spent_usd:.4f} spent + ~${cost:.4f} > ${line.limit_usd:.4f})"
                )
            elif line.limit_tokens is not None and spent_tokens + tokens > line.limit_tokens:
                refusal = (
                    f"would exceed the {line.describe()} token limit "
                    f"({spent_tokens} + ~{tokens} > {line.limit_tokens})"
                )
            else:
                continue
            self.refusals.append(f"{spec.name}: {refusal}")
            return refusal
        return None


async def guard(database: Database, runtime: Runtime, request: CompletionRequest) -> Guard | None:
    """The call's budget guard; an exhausted project or agent budget refuses it at once."""
    lines = [
        line
        for line in await _budget_lines(database, runtime)
        if line.scope == BudgetScope.PROVIDER
        or (line.scope == BudgetScope.PROJECT and line.project_id == request.project_id)
        or (line.scope == BudgetScope.AGENT and line.agent_id == request.agent_id)
    ]
    if not lines:
        return None
    measured: list[tuple[BudgetLine, float, int]] = []
    async with database.transaction(read_only=True) as session:
        for line in lines:
            spent_usd, spent_tokens = (await session.execute(spent_query(line))).one()
            measured.append((line, float(spent_usd), int(spent_tokens)))
    for line, spent_usd, spent_tokens in measured:
        if line.scope == BudgetScope.PROVIDER:
            continue
        if (line.limit_usd is not None and spent_usd >= line.limit_usd) or (
            line.limit_tokens is not None and spent_tokens >= line.limit_tokens
        ):
            raise BudgetExceeded(
                f"The {line.describe()} budget is spent: ${spent_usd:.4f} of "
                f"${line.limit_usd if line.limit_usd is not None else '-'}, "
                f"{spent_tokens} of {line.limit_tokens or '-'} tokens; raise it to continue",
                budget_id=str(line.id),
                spent_usd=spent_usd,
                limit_usd=line.limit_usd,
            )
    return Guard(measured)


async def write(
    database: Database,
    records: list[AttemptRecord],
    *,
    request: CompletionRequest,
    call_id: uuid.UUID,
    request_hash: str,
    reason: str,
) -> None:
    """All attempts of one call in one short transaction, with the models' learned stats.

    A restart of the database does not lose them (nor make a run ask the model again):
    the write waits for it to come back, for a while."""
    if not records:
        return
    await database.when_reachable(
        lambda: _write_records(database, records, request, call_id, request_hash, reason)
    )


async def _write_records(
    database: Database,
    records: list[AttemptRecord],
    request: CompletionRequest,
    call_id: uuid.UUID,
    request_hash: str,
    reason: str,
) -> None:
    rows = [
        {
            "call_id": call_id,
            "attempt": record.attempt,
            "model_id": record.spec.id,
            "provider": record.spec.provider,
            "model_name": record.spec.name,
            "task_type": request.task_type,
            "outcome": record.outcome,
            "error_class": record.error_class,
            "error_detail": record.error_detail,
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "cost_usd": record.cost_usd,
            "latency_ms": record.latency_ms,
            "project_id": request.project_id,
            "agent_id": request.agent_id,
            "task_id": request.task_id,
            "user_id": request.user_id,
            "request_hash": request_hash,
            "route_reason": reason if record.attempt == 1 else None,
        }
        for record in records
    ]
    async with database.transaction() as session:
        # A Core insert: one per model call on the engine's hot path, without the ORM's
        # unit of work.
        await session.execute(_INSERT_REQUEST, rows)
        touched: dict[uuid.UUID, tuple[ModelSpec, int]] = {}
        for record in records:
            if record.spec.id is not None:
                spec, count = touched.get(record.spec.id, (record.spec, 0))
                touched[record.spec.id] = (spec, count + 1)
        for model_id, (spec, count) in touched.items():
            await session.execute(
                update(LlmModel)
                .where(LlmModel.id == model_id)
                .values(
                    success_rate=spec.success_rate,
                    latency_ms_avg=spec.latency_ms_avg,
                    requests=LlmModel.requests + count,
                )
            )


def _group(key: str, row: Any) -> UsageGroup:
    return UsageGroup(
        key=key,
        requests=int(row.requests or 0),
        failures=int(row.failures or 0),
        prompt_tokens=int(row.prompt_tokens or 0),
        completion_tokens=int(row.completion_tokens or 0),
        cost_usd=float(row.cost_usd or 0.0),
        latency_ms_avg=round(float(row.latency_ms_avg or 0.0), 3),
    )


_AGGREGATES = (
    func.count().label("requests"),
    func.sum(case((ModelRequest.outcome != ModelRequestOutcome.SUCCESS, 1), else_=0)).label(
        "failures"
    ),
    func.sum(ModelRequest.prompt_tokens).label("prompt_tokens"),
    func.sum(ModelRequest.completion_tokens).label("completion_tokens"),
    func.sum(ModelRequest.cost_usd).label("cost_usd"),
    func.avg(ModelRequest.latency_ms).label("latency_ms_avg"),
)


async def usage(
    session: AsyncSession,
    *,
    visible_to: tuple[uuid.UUID, Collection[uuid.UUID]] | None,
    project_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> UsageReport:
    """Tokens, cost and latency by model, project and agent, and the latest attempts."""
    conditions = _usage_conditions(
        visible_to,
        project_id=project_id,
        agent_id=agent_id,
        model=model,
        since=since,
        until=until,
    )
    total = (await session.execute(select(*_AGGREGATES).where(*conditions))).one()
    pairs = await session.execute(
        select(ModelRequest.provider, ModelRequest.model_name, *_AGGREGATES)
        .where(*conditions)
        .group_by(ModelRequest.provider, ModelRequest.model_name)
        .order_by(func.count().desc(), ModelRequest.provider, ModelRequest.model_name)
    )
    by_provider_model = [_group(f"{row.provider}/{row.model_name}", row) for row in pairs]
    requests = await session.scalars(
        select(ModelRequest)
        .where(*conditions)
        .order_by(ModelRequest.created_at.desc(), ModelRequest.attempt.desc())
        .limit(limit)
    )
    return UsageReport(
        total=_group("total", total),
        by_model=await _grouped(session, conditions, ModelRequest.model_name),
        by_provider_model=by_provider_model,
        by_project=await _grouped(session, conditions, ModelRequest.project_id),
        by_agent=await _grouped(session, conditions, ModelRequest.agent_id),
        requests=[ModelRequestOut.model_validate(row) for row in requests],
    )


def _usage_conditions(
    visible_to: tuple[uuid.UUID, Collection[uuid.UUID]] | None,
    *,
    project_id: uuid.UUID | None,
    agent_id: uuid.UUID | None,
    model: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    """The requests a usage report covers: the user's own and their projects', filtered."""
    conditions: list[ColumnElement[bool]] = []
    if visible_to is not None:
        user_id, project_ids = visible_to
        conditions.append(
            or_(ModelRequest.user_id == user_id, ModelRequest.project_id.in_(list(project_ids)))
        )
    if project_id is not None:
        conditions.append(ModelRequest.project_id == project_id)
    if agent_id is not None:
        conditions.append(ModelRequest.agent_id == agent_id)
    if model:
        conditions.append(ModelRequest.model_name == model)
    if since is not None:
        conditions.append(ModelRequest.created_at >= since)
    if until is not None:
        conditions.append(ModelRequest.created_at < until)
    return conditions


async def _grouped(
    session: AsyncSession, conditions: list[ColumnElement[bool]], column: Any
) -> list[UsageGroup]:
    """The usage by each value of ``column``, the costliest first."""
    rows = await session.execute(
        select(column.label("key"), *_AGGREGATES)
        .where(*conditions, column.is_not(None))
        .group_by(column)
        .order_by(func.sum(ModelRequest.cost_usd).desc(), func.count().desc())
    )
    return [_group(str(row.key), row) for row in rows]
