"""The tool registry: register, change, retire tools; the built-ins; categories."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import utcnow
from berrys.core.errors import (
    BerrysError,
    Conflict,
    Unprocessable,
)
from berrys.core.lifecycle import Lifecycle
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.tools._builtin import BUILTINS
from berrys.services.tools._invocation import invalidate_definitions
from berrys.services.tools._registry import (
    check_schema,
    get_server_row,
    get_tool_by_name,
    get_tool_row,
    tool_out,
    unmask,
)
from berrys.services.tools.contracts import (
    BatchItemResult,
    BatchResult,
    CategoryOut,
    McpTransport,
    ToolCreate,
    ToolOut,
    ToolSource,
    ToolStatus,
    ToolUpdate,
)
from berrys.services.tools.tables import Tool

T = ToolStatus
# Tools a server offers (an MCP server's, or a remote A2A agent's skills).
_SERVED = frozenset({ToolSource.MCP, ToolSource.A2A})
TRANSITIONS = Lifecycle[ToolStatus](
    "Tool",
    {
        T.DISCOVERED: {T.EVALUATED, T.APPROVED, T.REJECTED, T.DEPRECATED},
        T.EVALUATED: {T.APPROVED, T.REJECTED, T.DEPRECATED, T.DISCOVERED},
        T.APPROVED: {T.DEPRECATED, T.REJECTED, T.EVALUATED},
        T.REJECTED: {T.DISCOVERED, T.EVALUATED},
        T.DEPRECATED: {T.APPROVED, T.DISCOVERED},
    },
)


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
    if tool_in.source in _SERVED:
        if tool_in.mcp_server_id is None:
            raise Unprocessable(f"an {tool_in.source.value} tool needs mcp_server_id")
        server = await get_server_row(session, tool_in.mcp_server_id)
        if (server.transport == McpTransport.A2A) != (tool_in.source == ToolSource.A2A):
            raise Unprocessable(
                f"an {tool_in.source.value} tool's server cannot be a {server.transport.value} one"
            )
    elif tool_in.mcp_server_id is not None:
        raise Unprocessable("mcp_server_id is only for MCP and A2A tools")
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
            TRANSITIONS.check(current, to_status)
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
