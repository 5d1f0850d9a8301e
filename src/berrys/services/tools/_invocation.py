"""Governed invocation: validate, apply policy, call with a timeout, cap, log.

No transaction is held across the call itself: one short read before, one short write
after (SQLAlchemy Core on the hot path).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from sqlalchemy import select

from berrys.config import Settings
from berrys.core import tracing
from berrys.core.db import Database, utcnow
from berrys.core.errors import (
    BerrysError,
    Conflict,
    Forbidden,
    NotFound,
    PolicyDenied,
    ServiceUnavailable,
    Unprocessable,
)
from berrys.services.auth.contracts import UserOut
from berrys.services.projects import service as projects
from berrys.services.tools import _a2a, _builtin, _egress, _executions
from berrys.services.tools._mcp import McpFailure, McpPool, McpServerSpec, failure_line
from berrys.services.tools._registry import argument_errors, validator_for
from berrys.services.tools.contracts import (
    ApprovalPolicy,
    InvokeResult,
    ToolExecutionOutcome,
    ToolSource,
    ToolStatus,
)
from berrys.services.tools.tables import AgentTool, McpServer, Tool

_log = structlog.get_logger("berrys.tools.invoke")
Outcome = ToolExecutionOutcome


class ToolTimeout(BerrysError):
    status = 504
    title = "Tool timed out"


class ApprovalRequired(Conflict):
    title = "Approval required"


@dataclass(frozen=True)
class ApprovalRequest:
    """What the approval policy is asked about: one call, before it runs."""

    tool_id: uuid.UUID
    tool_name: str
    arguments: dict[str, Any]
    arguments_hash: str
    idempotent: bool
    user_id: uuid.UUID | None
    project_id: uuid.UUID | None
    agent_id: uuid.UUID | None


ApprovalHook = Callable[[ApprovalRequest], Awaitable[None]]
"""An approval policy: returns when the call may run now (approved); raises
(ApprovalRequired, with e.g. the pending interaction's id) when it may not yet."""


async def require_human_approval(request: ApprovalRequest) -> None:
    """The policy when no human-in-the-loop service is connected: never run."""
    raise ApprovalRequired(
        f"Tool {request.tool_name!r} requires approval before it runs, and no approval "
        "service is connected; the call was not made",
        tool_id=str(request.tool_id),
        tool=request.tool_name,
        arguments_hash=request.arguments_hash,
    )


def arguments_hash(arguments: dict[str, Any]) -> str:
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_TOOL_COLUMNS = (
    Tool.id,
    Tool.name,
    Tool.source,
    Tool.status,
    Tool.approval_policy,
    Tool.idempotent,
    Tool.target,
    Tool.input_schema,
    Tool.configuration,
    Tool.timeout_seconds,
    Tool.mcp_server_id,
    Tool.updated_at,
)
_SERVER_COLUMNS = (
    McpServer.id,
    McpServer.name,
    McpServer.transport,
    McpServer.command,
    McpServer.args,
    McpServer.env,
    McpServer.url,
    McpServer.header_names,
    McpServer.credentials_encrypted,
    McpServer.timeout_seconds,
    McpServer.enabled,
    McpServer.healthy,
)


@dataclass
class _Call:
    tool: Any
    server: Any | None
    arguments: dict[str, Any]
    digest: str
    user: UserOut | None
    project_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    needs_approval: bool = False
    allowed: bool = True


class _Definitions:
    """Tool rows (with their server's) cached in this process for a few seconds.

    A registry write in this process invalidates the whole cache at once (``invalidate``);
    a read that began before it keeps its rows out of the cache (the generation moved on).
    """

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, tuple[float, int, Any, Any | None]] = {}
        self.generation = 0

    def invalidate(self) -> None:
        self.generation += 1
        self.rows.clear()


_definitions = _Definitions()


def invalidate_definitions() -> None:
    """Forget cached tool definitions (every registry write in this process calls it)."""
    _definitions.invalidate()


async def _definition(
    database: Database, tool_id: uuid.UUID, ttl_seconds: float
) -> tuple[Any, Any | None]:
    """The tool's row (and its server's), cached for ``ttl_seconds`` in this process.

    A change made through this process is seen at once (the cache is invalidated); one
    made by another process within the TTL (default 1 s, 0 turns caching off).
    """
    now = time.monotonic()
    cached = _definitions.rows.get(tool_id)
    if cached is not None and cached[0] > now and cached[1] == _definitions.generation:
        return cached[2], cached[3]
    generation = _definitions.generation
    async with database.transaction(read_only=True) as session:
        tool = (await session.execute(select(*_TOOL_COLUMNS).where(Tool.id == tool_id))).first()
        if tool is None:
            raise NotFound.of("Tool", tool_id)
        server = None
        if tool.mcp_server_id is not None:
            server = (
                await session.execute(
                    select(*_SERVER_COLUMNS).where(McpServer.id == tool.mcp_server_id)
                )
            ).first()
    if ttl_seconds > 0 and generation == _definitions.generation:
        if len(_definitions.rows) > 4096:
            _definitions.rows.clear()
        _definitions.rows[tool_id] = (now + ttl_seconds, generation, tool, server)
    return tool, server


async def _access(
    database: Database,
    *,
    tool_id: uuid.UUID,
    user: UserOut | None,
    project_id: uuid.UUID | None,
    agent_id: uuid.UUID | None,
) -> tuple[bool, bool]:
    """Check the project (visible to ``user``) and the agent's binding: (allowed, approval)."""
    if agent_id is None and (project_id is None or user is None):
        return True, False
    async with database.transaction(read_only=True) as session:
        if project_id is not None and user is not None:
            await projects.get(session, project_id=project_id, user=user)
        if agent_id is not None:
            binding = (
                await session.execute(
                    select(AgentTool.allowed, AgentTool.requires_approval).where(
                        AgentTool.agent_id == agent_id, AgentTool.tool_id == tool_id
                    )
                )
            ).first()
            # An agent uses only the tools bound to it.
            return (binding.allowed, binding.requires_approval) if binding else (False, False)
    return True, False


async def _log_execution(
    database: Database,
    call: _Call,
    *,
    outcome: ToolExecutionOutcome,
    error: str | None = None,
    duration_ms: float = 0.0,
    output_bytes: int = 0,
    truncated: bool = False,
    server_health: tuple[bool, str | None] | None = None,
) -> uuid.UUID:
    """Commit the call's log entry (see ``executions.record``)."""
    execution_id = uuid.uuid4()
    now = utcnow()
    health = None
    if server_health is not None and call.server is not None:
        health = (call.server.id, server_health[0], server_health[1], now)
        _definitions.rows.pop(call.tool.id, None)  # its server's health is part of the row
    await _executions.record(
        database,
        {
            "id": execution_id,
            "tool_id": call.tool.id,
            "tool_name": call.tool.name,
            "agent_id": call.agent_id,
            "project_id": call.project_id,
            "user_id": call.user.id if call.user else None,
            "arguments_hash": call.digest,
            "outcome": outcome,
            "error": error[:4000] if error else None,
            "duration_ms": duration_ms,
            "output_bytes": output_bytes,
            "truncated": truncated,
            "created_at": now,
        },
        server_health=health,
    )
    return execution_id


def _render_mcp(result: Any) -> tuple[Any, bool, str | None]:
    content = [block.model_dump(mode="json", exclude_none=True) for block in result.content]
    output: dict[str, Any] = {"content": content}
    if result.structured_content is not None:
        output["structured_content"] = result.structured_content
    error = None
    if result.is_error:
        error = " ".join(block.get("text", "") for block in content if block.get("type") == "text")
        error = error.strip() or "the tool reported an error"
    return output, bool(result.is_error), error


async def _run(
    call: _Call, settings: Settings, limit: float, mcp: McpPool
) -> tuple[Any, bool, str | None]:
    tool = call.tool
    if tool.source == ToolSource.BUILTIN:
        handler = _builtin.BUILTINS.get(tool.target)
        if handler is None:
            raise ServiceUnavailable(f"built-in {tool.target!r} is not part of this version")
        context = _builtin.BuiltinContext(settings=settings, project_id=call.project_id)
        try:
            async with asyncio.timeout(limit):
                return await handler.handler(context, call.arguments), False, None
        except TimeoutError:
            raise ToolTimeout(f"Tool {tool.name!r} did not finish within {limit:g}s") from None
    if tool.source == ToolSource.MCP:
        if call.server is None:
            raise ServiceUnavailable(f"Tool {tool.name!r} has no MCP server")
        if not call.server.enabled:
            raise ServiceUnavailable(f"MCP server {call.server.name!r} is disabled")
        result = await mcp.call_tool(
            McpServerSpec.of(call.server, settings),
            tool.target,
            call.arguments,
            timeout_seconds=limit,
        )
        return _render_mcp(result)
    if tool.source == ToolSource.A2A:
        return await _run_a2a(call, settings, limit)
    return await _run_http(call, settings, limit)


async def _run_a2a(call: _Call, settings: Settings, limit: float) -> tuple[Any, bool, str | None]:
    """A remote A2A agent's skill: one message to the agent, its reply the output."""
    if call.server is None:
        raise ServiceUnavailable(f"Tool {call.tool.name!r} has no A2A agent")
    if not call.server.enabled:
        raise ServiceUnavailable(f"A2A agent {call.server.name!r} is disabled")
    spec = McpServerSpec.of(call.server, settings)
    return await _a2a.send(spec, call.tool.target, call.arguments, timeout_seconds=limit)


async def _run_http(call: _Call, settings: Settings, limit: float) -> tuple[Any, bool, str | None]:
    """An HTTP tool: POST the arguments as JSON to its configured URL, under the fetch policy."""
    url = str(call.tool.configuration.get("url", ""))
    if not settings.tools_fetch_enabled:
        raise PolicyDenied(
            f"HTTP tools reach only allow-listed hosts; {url!r} is not allowed "
            "(BERRYS_TOOLS_FETCH_ENABLED, BERRYS_TOOLS_FETCH_ALLOWED_HOSTS)"
        )
    try:
        async with _egress.request(
            "POST", url, settings=settings, timeouts=limit, json=call.arguments
        ) as (response, _):
            body, _ = await _egress.read_capped(response, settings.tools_fetch_max_bytes)
    except httpx.TimeoutException:
        raise ToolTimeout(f"Tool {call.tool.name!r} did not answer within {limit:g}s") from None
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"Tool {call.tool.name!r}: {exc}") from None
    try:
        output: Any = json.loads(body)
    except ValueError:
        output = body.decode("utf-8", "replace")
    failed = response.status_code >= 400
    return output, failed, f"HTTP {response.status_code}" if failed else None


def _cap(output: Any, limit: int) -> tuple[Any, int, bool]:
    encoded = json.dumps(output, default=str, ensure_ascii=False)
    size = len(encoded.encode())
    if size <= limit:
        return output, size, False
    return encoded.encode()[:limit].decode("utf-8", "ignore"), size, True


async def invoke(
    database: Database,
    *,
    settings: Settings,
    approve: ApprovalHook,
    mcp: McpPool,
    tool_id: uuid.UUID,
    arguments: dict[str, Any],
    user: UserOut | None,
    project_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    timeout_seconds: float | None = None,
    call_id: str | None = None,
) -> InvokeResult:
    """Run one tool call under its schema and policy; every attempt lands in tool_execution.

    Raises NotFound (tool, or a project ``user`` cannot see), Unprocessable (arguments,
    with ``errors`` listing JSON paths), PolicyDenied (DENY, REJECTED, refused by an agent
    binding or a sandbox), ApprovalRequired (from ``approve``), ToolTimeout (504),
    ServiceUnavailable (the MCP server is down or broken). A tool that runs and reports an
    error is a result with ``is_error`` and outcome ERROR, not an exception. ``call_id``:
    the model's id of the call, for its ``execute_tool`` span.
    """
    tool, server = await _definition(database, tool_id, settings.tools_definition_cache_seconds)
    with tracing.span(tracing.EXECUTE_TOOL, tool.name, _tool_attributes(tool, call_id)) as span:
        result = await _checked(
            database,
            settings,
            approve,
            tool,
            server,
            mcp=mcp,
            arguments=arguments,
            user=user,
            project_id=project_id,
            agent_id=agent_id,
            timeout_seconds=timeout_seconds,
        )
        if result.is_error:
            tracing.fail(span, "tool_error", result.error)
        return result


def _tool_attributes(tool: Any, call_id: str | None) -> dict[str, str]:
    # gen_ai.tool.type: a built-in runs here ("function"), others reach outside ("extension").
    attributes = {
        tracing.TOOL_NAME: tool.name,
        tracing.TOOL_TYPE: "function" if tool.source == ToolSource.BUILTIN else "extension",
        "berrys.tool.source": tool.source.value,
    }
    if call_id:
        attributes[tracing.TOOL_CALL_ID] = call_id
    return attributes


async def _checked(
    database: Database,
    settings: Settings,
    approve: ApprovalHook,
    tool: Any,
    server: Any | None,
    *,
    mcp: McpPool,
    arguments: dict[str, Any],
    user: UserOut | None,
    project_id: uuid.UUID | None,
    agent_id: uuid.UUID | None,
    timeout_seconds: float | None,
) -> InvokeResult:
    """The call once its tool is known: access, policy and arguments checked, then run."""
    tool_id = tool.id
    allowed, binding_approval = await _access(
        database, tool_id=tool_id, user=user, project_id=project_id, agent_id=agent_id
    )
    call = _Call(
        tool=tool,
        server=server,
        arguments=arguments,
        digest=arguments_hash(arguments),
        user=user,
        project_id=project_id,
        agent_id=agent_id,
        needs_approval=tool.approval_policy == ApprovalPolicy.REQUIRES_APPROVAL or binding_approval,
        allowed=allowed,
    )
    refusal = _refusal(call)
    if refusal is not None:
        raise await _refuse(database, call, *refusal)
    if call.needs_approval:
        try:
            await approve(_approval_request(call))
        except BerrysError as exc:
            raise await _refuse(database, call, Outcome.APPROVAL_REQUIRED, exc) from None
    limit = _timeout(call, settings, timeout_seconds)
    output, is_error, error, elapsed = await _execute(database, call, settings, limit, mcp)
    return await _result(database, call, settings, output, is_error, error, elapsed)


def _refusal(call: _Call) -> tuple[ToolExecutionOutcome, BerrysError] | None:
    """Why the call may not run at all (policy, binding, project, arguments), or None."""
    tool = call.tool
    if tool.status == ToolStatus.REJECTED:
        return Outcome.DENIED, PolicyDenied(f"Tool {tool.name!r} is REJECTED")
    if tool.approval_policy == ApprovalPolicy.DENY:
        return Outcome.DENIED, PolicyDenied(f"Tool {tool.name!r} is denied by policy")
    if not call.allowed:
        return Outcome.DENIED, PolicyDenied(
            f"Agent {call.agent_id} may not use tool {tool.name!r} "
            "(no binding, or its binding forbids it)"
        )
    meta = _builtin.BUILTINS.get(tool.target) if tool.source == ToolSource.BUILTIN else None
    if meta is not None and meta.needs_project and call.project_id is None:
        return Outcome.INVALID, Unprocessable(
            f"Tool {tool.name!r} works in a project: give project_id"
        )
    errors = argument_errors(
        validator_for(tool.id, tool.updated_at, tool.input_schema or {}), call.arguments
    )
    if errors:
        detail = "; ".join(f"{error['path']}: {error['message']}" for error in errors)
        return Outcome.INVALID, Unprocessable(
            f"Arguments do not match {tool.name}'s input schema: {detail}", errors=errors
        )
    return None


async def _refuse(
    database: Database, call: _Call, outcome: ToolExecutionOutcome, exc: BerrysError
) -> BerrysError:
    """Log a call that did not run and hand back the error to raise."""
    await _log_execution(database, call, outcome=outcome, error=exc.detail)
    _log.info("tool.refused", tool=call.tool.name, outcome=outcome.value, detail=exc.detail)
    return exc


def _approval_request(call: _Call) -> ApprovalRequest:
    return ApprovalRequest(
        tool_id=call.tool.id,
        tool_name=call.tool.name,
        arguments=call.arguments,
        arguments_hash=call.digest,
        idempotent=call.tool.idempotent,
        user_id=call.user.id if call.user else None,
        project_id=call.project_id,
        agent_id=call.agent_id,
    )


def _timeout(call: _Call, settings: Settings, requested: float | None) -> float:
    """The caller's limit, else the tool's, else its MCP server's (or the default)."""
    fallback = (
        call.server.timeout_seconds
        if call.server is not None
        else settings.tools_default_timeout_seconds
    )
    return requested or call.tool.timeout_seconds or fallback


async def _execute(
    database: Database, call: _Call, settings: Settings, limit: float, mcp: McpPool
) -> tuple[Any, bool, str | None, float]:
    """Run the call: (output, is_error, error, elapsed ms); a failure to run is logged, raised."""
    started = time.perf_counter()
    try:
        output, is_error, error = await _run(call, settings, limit, mcp)
    except McpFailure as exc:
        elapsed = (time.perf_counter() - started) * 1000
        await _log_execution(
            database,
            call,
            outcome=Outcome.TIMEOUT if exc.timed_out else Outcome.ERROR,
            error=str(exc),
            duration_ms=elapsed,
            server_health=(False, exc.detail),
        )
        raise _mcp_error(exc) from None
    except (Forbidden, ToolTimeout, ServiceUnavailable) as exc:
        elapsed = (time.perf_counter() - started) * 1000
        await _log_execution(
            database, call, outcome=_failure_outcome(exc), error=exc.detail, duration_ms=elapsed
        )
        raise
    except BerrysError as exc:
        # The tool ran and could not do it (no such file, division by zero...): a result.
        output, is_error, error = None, True, exc.detail
    return output, is_error, error, (time.perf_counter() - started) * 1000


def _mcp_error(exc: McpFailure) -> BerrysError:
    # One line for the caller; the execution log keeps the whole error.
    message = f"{exc.kind} {exc.server!r}: {failure_line(exc.detail)}"
    if exc.timed_out:
        return ToolTimeout(message, server=exc.server)
    return ServiceUnavailable(message, server=exc.server)


def _failure_outcome(exc: BerrysError) -> ToolExecutionOutcome:
    if isinstance(exc, Forbidden):
        return Outcome.DENIED
    if isinstance(exc, ToolTimeout):
        return Outcome.TIMEOUT
    return Outcome.ERROR


async def _result(
    database: Database,
    call: _Call,
    settings: Settings,
    output: Any,
    is_error: bool,
    error: str | None,
    elapsed: float,
) -> InvokeResult:
    """Cap the output, log the call (a server that answered is healthy again), answer."""
    health = (True, None) if call.server is not None and call.server.healthy is not True else None
    output, size, truncated = _cap(output, settings.tools_output_max_bytes)
    outcome = Outcome.ERROR if is_error else Outcome.SUCCESS
    execution_id = await _log_execution(
        database,
        call,
        outcome=outcome,
        error=error,
        duration_ms=elapsed,
        output_bytes=size,
        truncated=truncated,
        server_health=health,
    )
    return InvokeResult(
        execution_id=execution_id,
        tool_id=call.tool.id,
        tool=call.tool.name,
        outcome=outcome,
        output=output,
        is_error=is_error,
        error=error,
        duration_ms=round(elapsed, 3),
        truncated=truncated,
    )


@dataclass(frozen=True, slots=True)
class ToolInvoker:
    """Runs an application's tool calls (see ``invoke``) against its database and settings,
    under one approval policy for the calls a tool or an agent's binding requires approval
    for: ``approve``, refusing every such call unless a human-in-the-loop policy is given.
    It holds the application's MCP sessions (``mcp``), closed by ``aclose``."""

    database: Database
    settings: Settings
    approve: ApprovalHook = require_human_approval
    mcp: McpPool = field(default_factory=McpPool)

    async def invoke(
        self,
        *,
        tool_id: uuid.UUID,
        arguments: dict[str, Any],
        user: UserOut | None,
        project_id: uuid.UUID | None = None,
        agent_id: uuid.UUID | None = None,
        timeout_seconds: float | None = None,
        call_id: str | None = None,
    ) -> InvokeResult:
        """One call under its schema and policy (``invoke`` says what it raises)."""
        return await invoke(
            self.database,
            settings=self.settings,
            approve=self.approve,
            mcp=self.mcp,
            tool_id=tool_id,
            arguments=arguments,
            user=user,
            project_id=project_id,
            agent_id=agent_id,
            timeout_seconds=timeout_seconds,
            call_id=call_id,
        )

    async def aclose(self) -> None:
        """Close every MCP session this invoker opened."""
        await self.mcp.close_all()
