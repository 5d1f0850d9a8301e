"""Tool servers (MCP servers and remote A2A agents): configurations, refresh (connect,
list, register), health."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, fetch_page, utcnow
from berrys.core.encryption import SecretBox, SecretUnreadable
from berrys.core.errors import (
    Conflict,
    ServiceUnavailable,
    Unprocessable,
)
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.tools._catalog import create
from berrys.services.tools._credentials import opened, seal
from berrys.services.tools._invocation import ToolInvoker, invalidate_definitions
from berrys.services.tools._listing import Listed, Listing, ListingFailure, list_server
from berrys.services.tools._mcp import McpHealth, McpServerSpec, failure_line
from berrys.services.tools._registry import (
    get_server_row,
    server_out,
    tool_out,
    unmask,
)
from berrys.services.tools.contracts import (
    McpHealthOut,
    McpServerCreate,
    McpServerOut,
    McpServerUpdate,
    McpTransport,
    RefreshResult,
    ToolCreate,
    ToolStatus,
)
from berrys.services.tools.tables import McpServer, Tool


async def get_server(
    session: AsyncSession, *, server_id: uuid.UUID, reveal: bool = False
) -> McpServerOut:
    """A server; its command and arguments only with ``reveal`` (an ADMIN reading)."""
    return server_out(await get_server_row(session, server_id), reveal=reveal)


async def get_servers(
    session: AsyncSession, *, limit: int, offset: int, reveal: bool = False
) -> tuple[list[McpServerOut], int]:
    """Servers by name; their commands and arguments only with ``reveal``."""
    rows, total = await fetch_page(
        session, select(McpServer).order_by(McpServer.name), limit=limit, offset=offset
    )
    return [server_out(row, reveal=reveal) for row in rows], total


async def get_server_by_name(session: AsyncSession, *, name: str) -> McpServerOut | None:
    row = await session.scalar(select(McpServer).where(McpServer.name == name))
    return server_out(row) if row else None


async def create_server(
    session: AsyncSession, *, server_in: McpServerCreate, user: UserOut | None, box: SecretBox
) -> McpServerOut:
    """Configure a server; its headers and bearer token are encrypted with ``box``."""
    if await session.scalar(select(McpServer.id).where(McpServer.name == server_in.name)):
        raise Conflict(f"an MCP server named {server_in.name!r} already exists")
    row = McpServer(
        name=server_in.name,
        transport=server_in.transport,
        command=server_in.command,
        args=server_in.args,
        env=server_in.env,
        url=server_in.url,
        timeout_seconds=server_in.timeout_seconds,
        enabled=server_in.enabled,
        created_by=user.id if user else None,
    )
    token = server_in.bearer_token
    seal(
        box,
        row,
        headers=server_in.headers,
        bearer_token=token.get_secret_value() if token else None,
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
    box: SecretBox,
) -> McpServerOut:
    """Change what is given; new headers or a new token replace the stored ones."""
    invalidate_definitions()
    row = await get_server_row(session, server_id)
    before = server_out(row)
    changes = server_in.model_dump(exclude_unset=True, exclude_none=True)
    _check_transport(row, changes)
    if "env" in changes:
        row.env = unmask(changes.pop("env"), row.env or {})
    if "headers" in changes or "bearer_token" in changes:
        _reseal(box, row, changes.pop("headers", None), changes.pop("bearer_token", None))
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


_TRANSPORT_FIELDS = {
    McpTransport.STDIO: {"command", "args", "env"},
    McpTransport.STREAMABLE_HTTP: {"url", "headers", "bearer_token"},
    McpTransport.A2A: {"url", "headers", "bearer_token"},
}


def _check_transport(row: McpServer, changes: dict[str, Any]) -> None:
    """Only the fields of the server's own transport may change (422 otherwise)."""
    foreign = sorted(
        set(changes) - _TRANSPORT_FIELDS[row.transport] - {"timeout_seconds", "enabled"}
    )
    if foreign:
        raise Unprocessable(
            f"a {row.transport.value} server takes no {', '.join(foreign)}", fields=foreign
        )


def _reseal(
    box: SecretBox, row: McpServer, headers: dict[str, str] | None, token: SecretStr | None
) -> None:
    """New headers and/or a new token ('' removes it); what is not given stays."""
    try:
        stored_headers, stored_token = opened(box, row)
    except SecretUnreadable as exc:
        if headers is None or token is None:  # a part that stays must be readable
            raise Unprocessable(f"MCP server {row.name!r}: {exc}; give both") from None
        stored_headers, stored_token = {}, None
    plain = token.get_secret_value() if token is not None else stored_token
    seal(box, row, headers=stored_headers if headers is None else headers, bearer_token=plain)


async def delete_server(
    session: AsyncSession, invoker: ToolInvoker, *, server_id: uuid.UUID, user: UserOut | None
) -> None:
    """Remove a server and its tools (their execution log stays); ``invoker``'s session with
    it is closed."""
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
    await invoker.mcp.close(server_id)


async def refresh_server(
    invoker: ToolInvoker, *, server_id: uuid.UUID, user: UserOut | None
) -> RefreshResult:
    """Connect (an MCP server in ``invoker``'s sessions; an A2A agent's card), list what it
    offers, and register or refresh those tools (DISCOVERED).

    The listing happens outside any transaction; the registry writes are one transaction.
    """
    database = invoker.database
    spec, listing = await _list_remote_tools(invoker, server_id)
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    invalidate_definitions()
    async with database.transaction() as session:
        server = await get_server_row(session, server_id)
        server.healthy = True
        server.last_error = None
        server.last_checked_at = utcnow()
        server.server_version = listing.server_version
        server.protocol_version = listing.protocol_version
        existing = {
            tool.target: tool
            for tool in await session.scalars(select(Tool).where(Tool.mcp_server_id == server_id))
        }
        for remote in listing.tools:
            current = existing.pop(remote.target, None)
            if current is None:
                tool_in = _discovered(spec.name, server_id, remote)
                created.append((await create(session, tool_in=tool_in, user=user)).name)
            elif await _refresh_tool(session, current, remote.fields, user=user):
                updated.append(current.name)
            else:
                unchanged.append(current.name)
        missing = _deprecate(list(existing.values()))
        await session.flush()
        result = RefreshResult(
            server=server_out(server),
            created=sorted(created),
            updated=sorted(updated),
            unchanged=sorted(unchanged),
            missing=sorted(missing),
        )
    return result


async def _list_remote_tools(
    invoker: ToolInvoker, server_id: uuid.UUID
) -> tuple[McpServerSpec, Listing]:
    """The enabled server's tools as it lists them (a failure is its health's last_error)."""
    database = invoker.database
    async with database.transaction(read_only=True) as session:
        row = await get_server_row(session, server_id)
        spec = McpServerSpec.of(row, invoker.settings)
        enabled = row.enabled
    if not enabled:
        raise Conflict(f"{_kind(spec)} {spec.name!r} is disabled; enable it first")
    try:
        return spec, await list_server(spec, invoker.mcp)
    except ListingFailure as exc:
        await _record_health(database, spec, healthy=False, error=exc.detail)
        # One line; the whole error (with the server's stderr) is its health's last_error.
        message = f"{_kind(spec)} {spec.name!r}: {failure_line(exc.detail)}"
        raise ServiceUnavailable(message, server=spec.name) from None


def _kind(spec: McpServerSpec) -> str:
    return "A2A agent" if spec.transport == McpTransport.A2A else "MCP server"


def _discovered(server: str, server_id: uuid.UUID, remote: Listed) -> ToolCreate:
    """A tool the server lists for the first time, DISCOVERED under the policy it allows."""
    return ToolCreate(
        name=f"{server}.{remote.target}",
        source=remote.source,
        status=ToolStatus.DISCOVERED,
        approval_policy=remote.policy,
        idempotent=remote.idempotent,
        target=remote.target,
        mcp_server_id=server_id,
        capabilities=remote.capabilities,
        categories=[remote.source.value.lower(), server.lower()],
        metadata=remote.metadata,
        **remote.fields,
    )


async def _refresh_tool(
    session: AsyncSession, current: Tool, fields: dict[str, Any], *, user: UserOut | None
) -> bool:
    """Bring a registered tool up to the server's listing (DISCOVERED again if it was
    DEPRECATED); False when nothing changed."""
    before = tool_out(current)
    changed = {key: value for key, value in fields.items() if getattr(current, key) != value}
    if current.status == ToolStatus.DEPRECATED:
        changed["status"] = ToolStatus.DISCOVERED
    if not changed:
        return False
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
    return True


def _deprecate(gone: list[Tool]) -> list[str]:
    """Tools the server no longer lists become DEPRECATED; their names."""
    for tool in gone:
        if tool.status != ToolStatus.DEPRECATED:
            tool.status = ToolStatus.DEPRECATED
            tool.updated_at = utcnow()
    return [tool.name for tool in gone]


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


async def server_health(invoker: ToolInvoker, *, server_id: uuid.UUID) -> McpHealthOut:
    """Measure now: connect if needed (in ``invoker``'s sessions; a STDIO server is started;
    an A2A agent's card is read) and list its tools, within the server's timeout."""
    database, mcp = invoker.database, invoker.mcp
    async with database.transaction(read_only=True) as session:
        spec = McpServerSpec.of(await get_server_row(session, server_id), invoker.settings)
    started = utcnow()
    names: list[str] | None = None
    error: str | None = None
    try:
        names = sorted(tool.target for tool in (await list_server(spec, mcp)).tools)
    except ListingFailure as exc:
        error = exc.detail
    latency_ms = (utcnow() - started).total_seconds() * 1000
    health = mcp.health(spec.id)
    if spec.transport == McpTransport.A2A:  # no session: this reading is its health
        health = McpHealth(healthy=names is not None, connected=False, last_error=error)
    await _record_health(database, spec, healthy=bool(health.healthy), error=health.last_error)
    return McpHealthOut(
        server_id=spec.id,
        name=spec.name,
        healthy=health.healthy,
        connected=health.connected,
        last_error=health.last_error,
        error_line=failure_line(health.last_error) if health.last_error else None,
        tools=len(names) if names is not None else None,
        tool_names=names or [],
        latency_ms=round(latency_ms, 3) if names is not None else None,
    )
