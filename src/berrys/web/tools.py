"""The dashboard's tools page: the tool registry, MCP servers and remote A2A agents; an ADMIN
adds a STDIO or streamable HTTP server or an A2A agent, tests it (starts or reaches it and
lists its tools) and registers its tools.

How a server is started (its command, arguments and environment) is shown to an ADMIN only,
as over REST: to anyone else a server is its name, transport and health.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import SecretStr, ValidationError

from berrys.core.encryption import secret_box
from berrys.core.errors import BerrysError
from berrys.services.auth.contracts import UserOut, UserRole
from berrys.services.tools import service as tools
from berrys.services.tools.contracts import McpServerCreate, McpTransport
from berrys.web.pages import _database
from berrys.web.security import Csrf, WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)
ADMIN_ONLY = "Only an ADMIN may add, test or refresh MCP servers: a server runs on this host."


def _invoker(request: Request) -> tools.ToolInvoker:
    """The application's tool invoker: it holds the MCP sessions a test or refresh opens."""
    invoker: tools.ToolInvoker = request.app.state.services.tools
    return invoker


async def _page(request: Request, user: UserOut, status_code: int = 200, **extra: Any) -> Response:
    is_admin = user.role == UserRole.ADMIN
    async with _database(request).transaction(read_only=True) as session:
        items, total = await tools.get_all(session, limit=200, offset=0)
        servers, _ = await tools.get_servers(session, limit=200, offset=0, reveal=is_admin)
    extra.setdefault("form", {})
    # Why a server fails can name its command: shown to an ADMIN only, as one line.
    errors = {s.id: tools.failure_line(s.last_error) for s in servers if is_admin and s.last_error}
    return render(
        request,
        "tools.html",
        status_code=status_code,
        tools=items,
        total=total,
        servers=servers,
        is_admin=is_admin,
        errors=errors,
        **extra,
    )


@router.get("/tools", response_class=HTMLResponse)
async def tools_page(request: Request, user: WebUser) -> Response:
    """The tool registry and MCP servers."""
    return await _page(request, user)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _environment(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines; ValueError naming the first line that is not one."""
    values: dict[str, str] = {}
    for number, line in enumerate(_lines(text), start=1):
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Environment line {number} is not KEY=VALUE: {line[:60]!r}.")
        values[key.strip()] = value
    return values


def _problems(error: ValidationError) -> str:
    """What was wrong with the form, field by field, in its words."""
    labels = {
        "name": "Name",
        "command": "Command",
        "args": "Arguments",
        "env": "Environment",
        "url": "URL",
        "bearer_token": "Bearer token",
    }
    parts = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{labels.get(field, field or 'Server')}: {message}")
    return "; ".join(parts) + "."


@router.post("/tools/mcp-servers", dependencies=[Csrf], response_class=HTMLResponse)
async def add_server(
    request: Request,
    user: WebUser,
    name: Annotated[str, Form(max_length=200)] = "",
    command: Annotated[str, Form(max_length=1000)] = "",
    args: Annotated[str, Form(max_length=20_000)] = "",
    env: Annotated[str, Form(max_length=20_000)] = "",
    url: Annotated[str, Form(max_length=2000)] = "",
    bearer_token: Annotated[str, Form(max_length=4000)] = "",
    a2a: Annotated[bool, Form()] = False,
) -> Response:
    """Configure a STDIO server (the command that starts it, one argument per line, and its
    environment as KEY=VALUE lines) or, given a URL, a streamable HTTP one or a remote A2A
    agent (and its token)."""
    if user.role != UserRole.ADMIN:
        return await _page(request, user, 403, flash=ADMIN_ONLY, flash_kind="error")
    form = {"name": name, "command": command, "args": args, "env": env, "url": url, "a2a": a2a}
    transport = McpTransport.STREAMABLE_HTTP if url.strip() else McpTransport.STDIO
    try:
        server_in = McpServerCreate(
            name=name,
            transport=McpTransport.A2A if a2a else transport,
            command=command.strip() or None,
            args=_lines(args),
            env=_environment(env),
            url=url.strip() or None,
            bearer_token=SecretStr(bearer_token.strip()) if bearer_token.strip() else None,
        )
    except ValidationError as exc:
        return await _page(request, user, 422, flash=_problems(exc), flash_kind="error", form=form)
    except ValueError as exc:
        return await _page(request, user, 422, flash=str(exc), flash_kind="error", form=form)
    try:
        async with _database(request).transaction() as session:
            server = await tools.create_server(
                session,
                server_in=server_in,
                user=user,
                box=secret_box(request.app.state.services.settings),
            )
    except BerrysError as exc:
        return await _page(
            request, user, exc.status, flash=exc.detail, flash_kind="error", form=form
        )
    kind = "A2A agent" if server.transport == McpTransport.A2A else "MCP server"
    flash = f"Added {kind} {server.name}: test it to start it and list its tools."
    return await _page(request, user, flash=flash)


@router.post(
    "/tools/mcp-servers/{server_id}/test", dependencies=[Csrf], response_class=HTMLResponse
)
async def test_server(request: Request, user: WebUser, server_id: uuid.UUID) -> Response:
    """Start the server (or reuse its session), list its tools: the names, or one line
    saying why it failed."""
    if user.role != UserRole.ADMIN:
        return await _page(request, user, 403, flash=ADMIN_ONLY, flash_kind="error")
    try:
        health = await tools.server_health(_invoker(request), server_id=server_id)
    except BerrysError as exc:
        return await _page(request, user, exc.status, flash=exc.detail, flash_kind="error")
    return await _page(request, user, tested=health)


@router.post(
    "/tools/mcp-servers/{server_id}/refresh", dependencies=[Csrf], response_class=HTMLResponse
)
async def refresh_server(request: Request, user: WebUser, server_id: uuid.UUID) -> Response:
    """Register the server's tools (DISCOVERED) and refresh those registered before."""
    if user.role != UserRole.ADMIN:
        return await _page(request, user, 403, flash=ADMIN_ONLY, flash_kind="error")
    try:
        result = await tools.refresh_server(_invoker(request), server_id=server_id, user=user)
    except BerrysError as exc:
        return await _page(request, user, exc.status, flash=exc.detail, flash_kind="error")
    flash = (
        f"{result.server.name}: {len(result.created)} new, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged, {len(result.missing)} no longer listed."
    )
    return await _page(request, user, flash=flash)
