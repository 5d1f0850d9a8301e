"""The ``tool_execution`` log, written off the call path.

A call hands its log entry to a per-database writer task and returns; the writer gathers
entries for up to 200 ms (or 256 of them) and commits them in one transaction, with the
tools' usage counters and MCP server health. Readers of the log call :func:`flush` first,
and the app's shutdown flushes, so an entry is visible to anyone who asks after the call
returned. What a crash can lose is the last 200 ms of log, never a call's result: the run
engine's step record is the durable account of a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.enums import ToolExecutionOutcome
from berrys.services.tools.contracts import ExecutionOut, UsageOut
from berrys.services.tools.tables import McpServer, Tool, ToolExecution

_log = structlog.get_logger("berrys.tools.executions")
_BATCH = 256
_GATHER_SECONDS = 0.2
_COUNTED = frozenset(
    {
        ToolExecutionOutcome.SUCCESS,
        ToolExecutionOutcome.ERROR,
        ToolExecutionOutcome.TIMEOUT,
    }
)


class _Writer:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.pending: list[dict[str, Any]] = []
        self.health: dict[uuid.UUID, tuple[bool, str | None, datetime]] = {}
        self.wake = asyncio.Event()
        self.urgent = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.loop = asyncio.get_running_loop()
        self.task = self.loop.create_task(self._run(), name="tool-execution-log")

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if not self.urgent.is_set() and len(self.pending) < _BATCH:
                # Gather a batch: one commit for many calls keeps the call path free.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_GATHER_SECONDS):
                        await self.urgent.wait()
            self.urgent.clear()
            batch, self.pending = self.pending, []
            health, self.health = self.health, {}
            try:
                await self._write(batch, health)
            except Exception:
                _log.exception("tool_execution.write_failed", entries=len(batch))
            if self.pending or self.health:
                self.wake.set()  # arrived while writing: gather the next batch
            else:
                self.idle.set()

    async def _write(
        self,
        batch: list[dict[str, Any]],
        health: dict[uuid.UUID, tuple[bool, str | None, datetime]],
    ) -> None:
        uses: Counter[uuid.UUID] = Counter()
        last: dict[uuid.UUID, datetime] = {}
        for entry in batch:
            if entry["outcome"] in _COUNTED and entry["tool_id"] is not None:
                uses[entry["tool_id"]] += 1
                last[entry["tool_id"]] = max(
                    last.get(entry["tool_id"], entry["created_at"]), entry["created_at"]
                )
        async with self.database.transaction() as session:
            if batch:
                await session.execute(insert(ToolExecution), batch)
            for tool_id, count in uses.items():
                await session.execute(
                    update(Tool)
                    .where(Tool.id == tool_id)
                    .values(usage_count=Tool.usage_count + count, last_used_at=last[tool_id])
                )
            for server_id, (healthy, error, at) in health.items():
                await session.execute(
                    update(McpServer)
                    .where(McpServer.id == server_id)
                    .values(healthy=healthy, last_error=error, last_checked_at=at)
                )

    def add(
        self,
        entry: dict[str, Any] | None,
        health: tuple[uuid.UUID, bool, str | None, datetime] | None,
    ) -> None:
        if entry is not None:
            self.pending.append(entry)
        if health is not None:
            server_id, healthy, error, at = health
            self.health[server_id] = (healthy, error, at)
        self.idle.clear()
        self.wake.set()
        if len(self.pending) >= _BATCH:
            self.urgent.set()

    async def flush(self) -> None:
        if not self.idle.is_set():
            self.urgent.set()
            self.wake.set()
            await self.idle.wait()


_writers: dict[int, _Writer] = {}


def _writer(database: Database) -> _Writer:
    writer = _writers.get(id(database))
    loop = asyncio.get_running_loop()
    if (
        writer is None
        or writer.database is not database
        or writer.loop is not loop
        or writer.task.done()
    ):
        writer = _Writer(database)
        _writers[id(database)] = writer
    return writer


def record(
    database: Database,
    entry: dict[str, Any],
    *,
    server_health: tuple[uuid.UUID, bool, str | None, datetime] | None = None,
) -> None:
    """Queue one entry (and a server's new health) for the writer; returns at once."""
    _writer(database).add(entry, server_health)


async def flush(database: Database) -> None:
    """Wait until everything queued so far is committed."""
    writer = _writers.get(id(database))
    if (
        writer is not None
        and writer.database is database
        and writer.loop is asyncio.get_running_loop()
    ):
        await writer.flush()


async def close_all() -> None:
    """Flush and stop every writer of this event loop (the app's shutdown)."""
    loop = asyncio.get_running_loop()
    for key, writer in list(_writers.items()):
        if writer.loop is loop:
            await writer.flush()
            writer.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer.task
        del _writers[key]


async def get_executions(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    tool_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    project_ids: list[uuid.UUID] | None = None,
    user_id: uuid.UUID | None = None,
) -> tuple[list[ExecutionOut], int]:
    """The execution log, newest first; ``project_ids``/``user_id`` limit a non-admin."""
    conditions: list[Any] = []
    if tool_id is not None:
        conditions.append(ToolExecution.tool_id == tool_id)
    if agent_id is not None:
        conditions.append(ToolExecution.agent_id == agent_id)
    if project_ids is not None or user_id is not None:
        conditions.append(
            or_(
                ToolExecution.project_id.in_(project_ids or []),
                ToolExecution.user_id == user_id,
            )
        )
    total = (
        await session.execute(select(func.count()).select_from(ToolExecution).where(*conditions))
    ).scalar_one()
    rows = await session.scalars(
        select(ToolExecution)
        .where(*conditions)
        .order_by(ToolExecution.created_at.desc(), ToolExecution.id)
        .limit(limit)
        .offset(offset)
    )
    return [ExecutionOut.model_validate(row) for row in rows], total


async def get_usage(
    session: AsyncSession, *, tool_id: uuid.UUID | None = None, agent_id: uuid.UUID | None = None
) -> list[UsageOut]:
    """Calls per tool and agent (refusals not counted as calls), from the execution log."""
    ran = ToolExecution.outcome.in_(
        [ToolExecutionOutcome.SUCCESS, ToolExecutionOutcome.ERROR, ToolExecutionOutcome.TIMEOUT]
    )
    conditions: list[Any] = [ran, ToolExecution.tool_id.is_not(None)]
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
