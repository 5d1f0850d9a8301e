"""The ``tool_execution`` log: one row per call, refused calls included, with usage counts."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, fetch_page
from berrys.services.tools.contracts import ExecutionOut, ToolExecutionOutcome, UsageOut
from berrys.services.tools.tables import McpServer, ToolExecution

# The outcomes of calls that ran; refusals are logged, not counted (the same set as the
# usage trigger of migration 0011).
_COUNTED = (
    ToolExecutionOutcome.SUCCESS,
    ToolExecutionOutcome.ERROR,
    ToolExecutionOutcome.TIMEOUT,
)

# Built once: a Core statement skips the ORM's unit of work and reuses its compiled SQL. The
# tool's usage counter follows in the same statement: a database trigger counts each entry
# of a call that ran (migration 0011), so the entry is a unit of work by itself.
_INSERT_ENTRY = insert(ToolExecution.__table__)


async def record(
    database: Database,
    entry: dict[str, Any],
    *,
    server_health: tuple[uuid.UUID, bool, str | None, datetime] | None = None,
) -> None:
    """Commit one entry (with it the tool's usage count), and its server's new health when
    that changed, before the call returns: a crash never loses a call's log entry."""
    if server_health is None:
        await database.write(_INSERT_ENTRY, entry)
        return
    server_id, healthy, error, at = server_health
    async with database.engine.begin() as connection:
        await connection.execute(_INSERT_ENTRY, entry)
        await connection.execute(
            update(McpServer)
            .where(McpServer.id == server_id)
            .values(healthy=healthy, last_error=error, last_checked_at=at)
        )


def _scope(visible_to: tuple[uuid.UUID, Collection[uuid.UUID]] | None) -> list[Any]:
    """A non-admin's calls: their own, and those in the projects they can see."""
    if visible_to is None:
        return []
    user_id, project_ids = visible_to
    return [or_(ToolExecution.project_id.in_(list(project_ids)), ToolExecution.user_id == user_id)]


async def get_executions(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    tool_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    visible_to: tuple[uuid.UUID, Collection[uuid.UUID]] | None = None,
) -> tuple[list[ExecutionOut], int]:
    """The execution log, newest first; ``visible_to`` = (user, their project ids) limits a
    non-admin."""
    conditions: list[Any] = []
    if tool_id is not None:
        conditions.append(ToolExecution.tool_id == tool_id)
    if agent_id is not None:
        conditions.append(ToolExecution.agent_id == agent_id)
    conditions.extend(_scope(visible_to))
    rows, total = await fetch_page(
        session,
        select(ToolExecution)
        .where(*conditions)
        .order_by(ToolExecution.created_at.desc(), ToolExecution.id),
        limit=limit,
        offset=offset,
    )
    return [ExecutionOut.model_validate(row) for row in rows], total


async def get_usage(
    session: AsyncSession,
    *,
    tool_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    visible_to: tuple[uuid.UUID, Collection[uuid.UUID]] | None = None,
) -> list[UsageOut]:
    """Calls per tool and agent (refusals not counted as calls), from the execution log;
    ``visible_to`` limits a non-admin to the calls the log shows them."""
    conditions: list[Any] = [
        ToolExecution.outcome.in_(_COUNTED),
        ToolExecution.tool_id.is_not(None),
        *_scope(visible_to),
    ]
    if tool_id is not None:
        conditions.append(ToolExecution.tool_id == tool_id)
    if agent_id is not None:
        conditions.append(ToolExecution.agent_id == agent_id)
    rows = await session.execute(
        select(
            ToolExecution.tool_id,
            ToolExecution.agent_id,
            func.count(),
            func.sum(case((ToolExecution.outcome == ToolExecutionOutcome.SUCCESS, 1), else_=0)),
            func.avg(ToolExecution.duration_ms),
            func.max(ToolExecution.created_at),
        )
        .where(*conditions)
        .group_by(ToolExecution.tool_id, ToolExecution.agent_id)
    )
    usage = []
    for tool, agent, calls, successes, mean, last in rows:
        usage.append(
            UsageOut(
                tool_id=tool,
                agent_id=agent,
                calls=calls,
                successes=int(successes or 0),
                failures=calls - int(successes or 0),
                mean_duration_ms=round(float(mean), 3) if mean is not None else None,
                last_used_at=last,
            )
        )
    return sorted(usage, key=lambda u: (-u.calls, str(u.agent_id)))
