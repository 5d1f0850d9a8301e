"""Tool Integration: the registry, MCP servers, and (re-exported) invocation, discovery and
evaluation. Other services call only this module."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import mcp_types
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, utcnow
from berrys.core.enums import ApprovalPolicy, AuditAction, ToolSource, ToolStatus
from berrys.core.errors import (
    BerrysError,
    Conflict,
    InvalidTransition,
    ServiceUnavailable,
    Unprocessable,
)
from berrys.services.audit import service as audit
from berrys.services.auth.contracts import UserOut
from berrys.services.tools import executions
from berrys.services.tools.bindings import bind as bind_agent_tool
from berrys.services.tools.bindings import get_agent_tools
from berrys.services.tools.bindings import unbind as unbind_agent_tool
from berrys.services.tools.builtin import BUILTINS
from berrys.services.tools.contracts import (
    BatchItemResult,
    BatchResult,
    CategoryOut,
    McpHealthOut,
    McpServerCreate,
    McpServerOut,
    McpServerUpdate,
    RefreshResult,
    ToolCreate,
    ToolOut,
    ToolUpdate,
)
from berrys.services.tools.discovery import discover, get_discovery
from berrys.services.tools.evaluation import evaluate, get_evaluations
from berrys.services.tools.invocation import (
    ApprovalHook,
    ApprovalRequest,
    ApprovalRequired,
    ToolTimeout,
    get_executions,
    get_usage,
    invalidate_definitions,
    invoke,
    require_human_approval,
    set_approval_hook,
)
from berrys.services.tools.mcp import McpFailure, McpServerSpec, pool
from berrys.services.tools.registry import (
    check_schema,
    get_server_row,
    get_tool_by_name,
    get_tool_row,
    server_out,
    tool_out,
    unmask,
)
from berrys.services.tools.tables import McpServer, Tool

__all__ = [
    "ApprovalHook",
    "ApprovalRequest",
    "ApprovalRequired",
    "ToolTimeout",
    "batch_create",
    "bind_agent_tool",
    "create",
    "create_server",
    "delete",
    "delete_server",
    "discover",
    "ensure_builtin_tools",
    "evaluate",
    "flush_executions",
    "get",
    "get_agent_tools",
    "get_all",
    "get_by_name",
    "get_categories",
    "get_discovery",
    "get_evaluations",
    "get_executions",
    "get_server",
    "get_server_by_name",
    "get_servers",
    "get_usage",
    "invoke",
    "refresh_server",
    "require_human_approval",
    "server_health",
    "set_approval_hook",
    "shutdown",
    "unbind_agent_tool",
    "update",
    "update_server",
]

T = ToolStatus
TRANSITIONS: Mapping[ToolStatus, frozenset[ToolStatus]] = {
    T.DISCOVERED: frozenset({T.EVALUATED, T.APPROVED, T.REJECTED, T.DEPRECATED}),
    T.EVALUATED: frozenset({T.APPROVED, T.REJECTED, T.DEPRECATED, T.DISCOVERED}),
    T.APPROVED: frozenset({T.DEPRECATED, T.REJECTED, T.EVALUATED}),
    T.REJECTED: frozenset({T.DISCOVERED, T.EVALUATED}),
    T.DEPRECATED: frozenset({T.APPROVED, T.DISCOVERED}),
}


# ---------------------------------------------------------------- registry


async def get(session: AsyncSession, *, tool_id: uuid.UUID) -> ToolOut:
    return tool_out(await get_tool_row(session, tool_id))


async def get_by_name(session: AsyncSession, *, name: str) -> ToolOut | None:
    row = await get_tool_by_name(session, name)
    return tool_out(row) if row else None


async def get_all(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    source: ToolSource | None = None,
    status: ToolStatus | None = None,
    category: str | None = None,
    capability: str | None = None,
    mcp_server_id: uuid.UUID | None = None,
    q: str | None = None,
) -> tuple[list[ToolOut], int]:
    conditions: list[Any] = []
    if source is not None:
        conditions.append(Tool.source == source)
    if status is not None:
        conditions.append(Tool.status == status)
    if mcp_server_id is not None:
        conditions.append(Tool.mcp_server_id == mcp_server_id)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(Tool.name.ilike(pattern, escape="\\"), Tool.description.ilike(pattern, escape="\\"))
        )
    rows = list(await session.scalars(select(Tool).where(*conditions).order_by(Tool.name)))
    # Tag filters run here: JSON containment differs between SQLite and PostgreSQL.
    if category:
        rows = [row for row in rows if category.strip().lower() in (row.categories or [])]
    if capability:
        rows = [row for row in rows if capability.strip().lower() in (row.capabilities or [])]
    return [tool_out(row) for row in rows[offset : offset + limit]], len(rows)


async def get_categories(session: AsyncSession) -> list[CategoryOut]:
    counts: Counter[str] = Counter()
    for categories in await session.scalars(select(Tool.categories)):
        counts.update(categories or [])
    return [CategoryOut(name=name, tools=n) for name, n in sorted(counts.items())]


async def _validate_new(session: AsyncSession, tool_in: ToolCreate) -> None:
    check_schema(tool_in.input_schema, field="input_schema")
    if tool_in.input_schema.get("type", "object") != "object":
        raise Unprocessable("input_schema must describe an object (the tool's arguments)")
    if tool_in.output_schema is not None:
        check_schema(tool_in.output_schema, field="output_schema")
    target = tool_in.target or tool_in.name
    if tool_in.source == ToolSource.BUILTIN and target not in BUILTINS:
        raise Unprocessable(
            f"no built-in tool {target!r}; built-ins: {', '.join(sorted(BUILTINS))}",
            allowed=sorted(BUILTINS),
        )
    if tool_in.source == ToolSource.MCP:
        if tool_in.mcp_server_id is None:
            raise Unprocessable("an MCP tool needs mcp_server_id")
        await get_server_row(session, tool_in.mcp_server_id)
    elif tool_in.mcp_server_id is not None:
        raise Unprocessable("mcp_server_id is only for MCP tools")
    if tool_in.source == ToolSource.HTTP and not str(tool_in.configuration.get("url", "")):
        raise Unprocessable("an HTTP tool needs configuration.url")
    if await get_tool_by_name(session, tool_in.name) is not None:
        raise Conflict(f"a tool named {tool_in.name!r} already exists")


async def create(session: AsyncSession, *, tool_in: ToolCreate, user: UserOut | None) -> ToolOut:
    """Register one tool."""
    await _validate_new(session, tool_in)
    row = Tool(
        name=tool_in.name,
        description=tool_in.description,
        input_schema=tool_in.input_schema,
        output_schema=tool_in.output_schema,
        capabilities=tool_in.capabilities,
        categories=tool_in.categories,
        source=tool_in.source,
        version=tool_in.version,
        status=tool_in.status,
        configuration=tool_in.configuration,
        approval_policy=tool_in.approval_policy,
        idempotent=tool_in.idempotent,
        target=tool_in.target or tool_in.name,
        mcp_server_id=tool_in.mcp_server_id,
        timeout_seconds=tool_in.timeout_seconds,
        tool_metadata=tool_in.metadata,
        created_by=user.id if user else None,
    )
    session.add(row)
    await session.flush()
    created = tool_out(row)
    await audit.record(
        session,
        entity_type="tool",
        entity_id=row.id,
        action=AuditAction.CREATE,
        actor_id=user.id if user else None,
        after=created,
    )
    return created


async def batch_create(
    session: AsyncSession, *, tools_in: list[ToolCreate], user: UserOut | None
) -> BatchResult:
    """Register many: each item alone in a savepoint, so a failed one leaves nothing behind."""
    results: list[BatchItemResult] = []
    names: set[str] = set()
    for index, tool_in in enumerate(tools_in):
        if tool_in.name in names:
            results.append(
                BatchItemResult(
                    index=index,
                    name=tool_in.name,
                    ok=False,
                    status=409,
                    error=f"{tool_in.name!r} appears twice in this batch",
                )
            )
            continue
        names.add(tool_in.name)
        try:
            async with session.begin_nested():
                created = await create(session, tool_in=tool_in, user=user)
        except BerrysError as exc:
            results.append(
                BatchItemResult(
                    index=index, name=tool_in.name, ok=False, status=exc.status, error=exc.detail
                )
            )
        except IntegrityError:
            results.append(
                BatchItemResult(
                    index=index,
                    name=tool_in.name,
                    ok=False,
                    status=409,
                    error=f"a tool named {tool_in.name!r} already exists",
                )
            )
        else:
            results.append(
                BatchItemResult(index=index, name=tool_in.name, ok=True, status=201, tool=created)
            )
    created_count = sum(1 for result in results if result.ok)
    return BatchResult(created=created_count, failed=len(results) - created_count, results=results)


async def update(
    session: AsyncSession, *, tool_id: uuid.UUID, tool_in: ToolUpdate, user: UserOut | None
) -> ToolOut:
    invalidate_definitions()
    row = await get_tool_row(session, tool_id)
    before = tool_out(row)
    changes = tool_in.model_dump(exclude_unset=True)
    for key in ("input_schema", "output_schema"):
        if changes.get(key) is not None:
            check_schema(changes[key], field=key)
    if "status" in changes and changes["status"] is not None:
        to_status = ToolStatus(changes.pop("status"))
        current = ToolStatus(row.status)
        if to_status != current:
            if to_status not in TRANSITIONS[current]:
                raise InvalidTransition("Tool", current, to_status, TRANSITIONS[current])
            row.status = to_status
    if "metadata" in changes:
        row.tool_metadata = changes.pop("metadata") or {}
    if "configuration" in changes:
        row.configuration = unmask(changes.pop("configuration") or {}, row.configuration or {})
    for key, value in changes.items():
        if value is None and key not in ("output_schema", "timeout_seconds"):
            continue
        setattr(row, key, value)
    row.updated_at = utcnow()
    await session.flush()
    after = tool_out(row)
    if after.model_dump(exclude={"updated_at"}) != before.model_dump(exclude={"updated_at"}):
        await audit.record(
            session,
            entity_type="tool",
            entity_id=row.id,
            action=AuditAction.UPDATE,
            actor_id=user.id if user else None,
            before=before,
            after=after,
        )
    return after


async def delete(session: AsyncSession, *, tool_id: uuid.UUID, user: UserOut | None) -> None:
    invalidate_definitions()
    row = await get_tool_row(session, tool_id)
    before = tool_out(row)
    await session.delete(row)
    await audit.record(
        session,
        entity_type="tool",
        entity_id=tool_id,
        action=AuditAction.DELETE,
        actor_id=user.id if user else None,
        before=before,
    )


async def ensure_builtin_tools(session: AsyncSession) -> list[str]:
    """Register the built-ins that are missing (idempotent); returns the names added."""
    existing = set(await session.scalars(select(Tool.target).where(Tool.source == "BUILTIN")))
    added: list[str] = []
    for key, builtin in BUILTINS.items():
        if key in existing:
            continue
        if await get_tool_by_name(session, key) is not None:
            continue
        await create(
            session,
            tool_in=ToolCreate(
                name=key,
                description=builtin.description,
                input_schema=builtin.input_schema,
                capabilities=list(builtin.capabilities),
                categories=list(builtin.categories),
                source=ToolSource.BUILTIN,
                status=ToolStatus.APPROVED,
                approval_policy=builtin.approval_policy,
                idempotent=builtin.idempotent,
                target=key,
                metadata={"access": builtin.access, "needs_project": builtin.needs_project}
                | ({"probe_arguments": builtin.probe_arguments} if builtin.probe_arguments else {}),
            ),
            user=None,
        )
        added.append(key)
    return added


# ---------------------------------------------------------------- MCP servers


async def get_server(session: AsyncSession, *, server_id: uuid.UUID) -> McpServerOut:
    return server_out(await get_server_row(session, server_id))


async def get_servers(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[McpServerOut], int]:
    total = (await session.execute(select(func.count()).select_from(McpServer))).scalar_one()
    rows = await session.scalars(
        select(McpServer).order_by(McpServer.name).limit(limit).offset(offset)
    )
    return [server_out(row) for row in rows], total


async def get_server_by_name(session: AsyncSession, *, name: str) -> McpServerOut | None:
    row = await session.scalar(select(McpServer).where(McpServer.name == name))
    return server_out(row) if row else None


async def create_server(
    session: AsyncSession, *, server_in: McpServerCreate, user: UserOut | None
) -> McpServerOut:
    if await session.scalar(select(McpServer.id).where(McpServer.name == server_in.name)):
        raise Conflict(f"an MCP server named {server_in.name!r} already exists")
    row = McpServer(
        name=server_in.name,
        transport=server_in.transport,
        command=server_in.command,
        args=server_in.args,
        env=server_in.env,
        url=server_in.url,
        headers=server_in.headers,
        timeout_seconds=server_in.timeout_seconds,
        enabled=server_in.enabled,
        created_by=user.id if user else None,
    )
    session.add(row)
    await session.flush()
    created = server_out(row)
    await audit.record(
        session,
        entity_type="mcp_server",
        entity_id=row.id,
        action=AuditAction.CREATE,
        actor_id=user.id if user else None,
        after=created,
    )
    return created


async def update_server(
    session: AsyncSession,
    *,
    server_id: uuid.UUID,
    server_in: McpServerUpdate,
    user: UserOut | None,
) -> McpServerOut:
    invalidate_definitions()
    row = await get_server_row(session, server_id)
    before = server_out(row)
    changes = server_in.model_dump(exclude_unset=True, exclude_none=True)
    if "env" in changes:
        row.env = unmask(changes.pop("env"), row.env or {})
    if "headers" in changes:
        row.headers = unmask(changes.pop("headers"), row.headers or {})
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    await session.flush()
    after = server_out(row)
    await audit.record(
        session,
        entity_type="mcp_server",
        entity_id=row.id,
        action=AuditAction.UPDATE,
        actor_id=user.id if user else None,
        before=before,
        after=after,
    )
    return after


async def delete_server(
    session: AsyncSession, *, server_id: uuid.UUID, user: UserOut | None
) -> None:
    """Remove a server and its tools (their execution log stays)."""
    invalidate_definitions()
    row = await get_server_row(session, server_id)
    before = server_out(row)
    await session.delete(row)
    await audit.record(
        session,
        entity_type="mcp_server",
        entity_id=server_id,
        action=AuditAction.DELETE,
        actor_id=user.id if user else None,
        before=before,
    )
    await pool.close(server_id)


def _policy_for(tool: mcp_types.Tool) -> tuple[ApprovalPolicy, bool]:
    """Read-only or explicitly non-destructive tools run unasked; the rest need approval."""
    hints = tool.annotations
    if hints is None:
        return ApprovalPolicy.REQUIRES_APPROVAL, False
    safe = bool(hints.read_only_hint) or hints.destructive_hint is False
    policy = ApprovalPolicy.AUTO if safe else ApprovalPolicy.REQUIRES_APPROVAL
    return policy, bool(hints.idempotent_hint or hints.read_only_hint)


def _capabilities_of(server: str, tool: mcp_types.Tool) -> list[str]:
    words = {server.lower(), *tool.name.lower().replace("-", "_").split("_")}
    return sorted(word for word in words if len(word) > 2 and word not in {"get", "the", "set"})


async def refresh_server(
    database: Database, *, server_id: uuid.UUID, user: UserOut | None
) -> RefreshResult:
    """Connect, list the server's tools, and register or refresh them (DISCOVERED).

    The listing happens outside any transaction; the registry writes are one transaction.
    """
    async with database.transaction(read_only=True) as session:
        row = await get_server_row(session, server_id)
        spec = McpServerSpec.of(row)
        enabled = row.enabled
    if not enabled:
        raise Conflict(f"MCP server {spec.name!r} is disabled; enable it first")
    try:
        listed = await pool.list_tools(spec)
    except McpFailure as exc:
        await _record_health(database, spec, healthy=False, error=exc.detail)
        raise ServiceUnavailable(str(exc), server=spec.name) from None
    health = pool.health(spec.id)
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    invalidate_definitions()
    async with database.transaction() as session:
        server = await get_server_row(session, server_id)
        server.healthy = True
        server.last_error = None
        server.last_checked_at = utcnow()
        server.server_version = health.server_version
        server.protocol_version = health.protocol_version
        existing = {
            tool.target: tool
            for tool in await session.scalars(select(Tool).where(Tool.mcp_server_id == server_id))
        }
        for remote in listed:
            policy, idempotent = _policy_for(remote)
            fields: dict[str, Any] = {
                "description": remote.description or remote.title or "",
                "input_schema": remote.input_schema or {"type": "object"},
                "output_schema": remote.output_schema,
                "version": health.server_version or "0.0.0",
            }
            annotations = (
                remote.annotations.model_dump(mode="json", exclude_none=True)
                if remote.annotations
                else {}
            )
            current = existing.pop(remote.name, None)
            if current is None:
                tool = await create(
                    session,
                    tool_in=ToolCreate(
                        name=f"{spec.name}.{remote.name}",
                        source=ToolSource.MCP,
                        status=ToolStatus.DISCOVERED,
                        approval_policy=policy,
                        idempotent=idempotent,
                        target=remote.name,
                        mcp_server_id=server_id,
                        capabilities=_capabilities_of(spec.name, remote),
                        categories=["mcp", spec.name.lower()],
                        metadata={"annotations": annotations, "title": remote.title},
                        **fields,
                    ),
                    user=user,
                )
                created.append(tool.name)
                continue
            before = tool_out(current)
            changed = {
                key: value for key, value in fields.items() if getattr(current, key) != value
            }
            if current.status == ToolStatus.DEPRECATED:
                changed["status"] = ToolStatus.DISCOVERED
            if not changed:
                unchanged.append(current.name)
                continue
            for key, value in changed.items():
                setattr(current, key, value)
            current.updated_at = utcnow()
            await session.flush()
            await audit.record(
                session,
                entity_type="tool",
                entity_id=current.id,
                action=AuditAction.UPDATE,
                actor_id=user.id if user else None,
                before=before,
                after=tool_out(current),
            )
            updated.append(current.name)
        missing = []
        for gone in existing.values():
            if gone.status != ToolStatus.DEPRECATED:
                gone.status = ToolStatus.DEPRECATED
                gone.updated_at = utcnow()
            missing.append(gone.name)
        await session.flush()
        result = RefreshResult(
            server=server_out(server),
            created=sorted(created),
            updated=sorted(updated),
            unchanged=sorted(unchanged),
            missing=sorted(missing),
        )
    return result


async def _record_health(
    database: Database, spec: McpServerSpec, *, healthy: bool, error: str | None
) -> None:
    invalidate_definitions()
    async with database.transaction() as session:
        row = await session.get(McpServer, spec.id)
        if row is not None:
            row.healthy = healthy
            row.last_error = error
            row.last_checked_at = utcnow()


async def server_health(database: Database, *, server_id: uuid.UUID) -> McpHealthOut:
    """Measure now: connect if needed and list the tools, within the server's timeout."""
    async with database.transaction(read_only=True) as session:
        spec = McpServerSpec.of(await get_server_row(session, server_id))
    started = utcnow()
    tools: int | None = None
    with contextlib.suppress(McpFailure):
        tools = len(await pool.list_tools(spec))
    latency_ms = (utcnow() - started).total_seconds() * 1000
    health = pool.health(spec.id)
    await _record_health(database, spec, healthy=bool(health.healthy), error=health.last_error)
    return McpHealthOut(
        server_id=spec.id,
        name=spec.name,
        healthy=health.healthy,
        connected=health.connected,
        last_error=health.last_error,
        tools=tools,
        latency_ms=round(latency_ms, 3) if tools is not None else None,
    )


async def flush_executions(database: Database) -> None:
    """Wait until every queued ``tool_execution`` entry is committed (before reading the log)."""
    await executions.flush(database)


async def shutdown() -> None:
    """Commit the queued execution log and close every MCP session (the app's shutdown)."""
    await executions.close_all()
    await pool.close_all()
