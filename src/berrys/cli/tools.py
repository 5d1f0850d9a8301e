"""``berrys tools``: register MCP servers and remote A2A agents, list the registry, call a tool."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import typer
from pydantic import SecretStr
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.cli.common import console, err_console, load_settings, run_async, run_with_services
from berrys.core.db import Database
from berrys.core.encryption import SecretBox, secret_box
from berrys.core.errors import NotFound
from berrys.services.auth import service as auth
from berrys.services.tools import service as tools
from berrys.services.tools.contracts import (
    DiscoverRequest,
    DiscoverResult,
    InvokeResult,
    McpServerCreate,
    McpServerOut,
    McpServerUpdate,
    McpTransport,
    RefreshResult,
    ToolOut,
    ToolSource,
    ToolStatus,
)
from berrys.wiring import Services

app = typer.Typer(
    help="Tools: the registry, MCP servers, remote A2A agents, and calls.", no_args_is_help=True
)


def _key_values(pairs: list[str], option: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            err_console.print(f"[red]{option} takes KEY=VALUE, got {pair!r}[/]")
            raise typer.Exit(2)
        values[key] = value
    return values


@app.command("add-mcp")
def add_mcp(
    name: str = typer.Argument(..., help="A short name; its tools are registered as NAME.tool."),
    command: list[str] = typer.Argument(
        None, help="After --: the command that starts a STDIO server, with its arguments."
    ),
    url: str | None = typer.Option(None, help="A streamable HTTP server's URL instead."),
    env: list[str] = typer.Option([], "--env", help="KEY=VALUE for the server's environment."),
    header: list[str] = typer.Option(
        [], "--header", help="KEY=VALUE HTTP header (stored encrypted)."
    ),
    bearer_token_env: str | None = typer.Option(
        None,
        metavar="VAR",
        help="The environment variable holding the server's bearer token (stored encrypted).",
    ),
    timeout: float = typer.Option(30.0, min=0.1, help="Seconds to wait for the server."),
) -> None:
    """Configure an MCP server, connect, and register its tools.

    Example: berrys tools add-mcp time -- python -m mcp_server_time

    Example: berrys tools add-mcp docs --url https://mcp.example.com/mcp
    --bearer-token-env DOCS_TOKEN
    """
    if bool(command) == bool(url):
        err_console.print("[red]Give either a command after -- or --url, not both or neither.[/]")
        raise typer.Exit(2)
    transport = McpTransport.STREAMABLE_HTTP if url else McpTransport.STDIO
    _register(
        _ServerGiven(
            name=name,
            transport=transport,
            command=command,
            url=url,
            env=_key_values(env, "--env"),
            headers=_key_values(header, "--header"),
            bearer_token=_token_from(bearer_token_env),
            timeout_seconds=timeout,
        )
    )


@app.command("add-a2a")
def add_a2a(
    name: str = typer.Argument(..., help="A short name; its skills are registered as NAME.skill."),
    url: str = typer.Option(..., help="The agent's base URL (where its agent card is)."),
    header: list[str] = typer.Option(
        [], "--header", help="KEY=VALUE HTTP header (stored encrypted)."
    ),
    bearer_token_env: str | None = typer.Option(
        None,
        metavar="VAR",
        help="The environment variable holding the agent's bearer token (stored encrypted).",
    ),
    timeout: float = typer.Option(300.0, min=0.1, help="Seconds to wait for the agent's reply."),
) -> None:
    """Register a remote A2A agent: read its agent card and register its skills as tools
    (each call asks for approval unless a binding or the tool's policy says otherwise).

    Example: berrys tools add-a2a planner --url https://agents.example.com
    --bearer-token-env PLANNER_TOKEN
    """
    _register(
        _ServerGiven(
            name=name,
            transport=McpTransport.A2A,
            command=None,
            url=url,
            env={},
            headers=_key_values(header, "--header"),
            bearer_token=_token_from(bearer_token_env),
            timeout_seconds=timeout,
        )
    )


@dataclass(frozen=True)
class _ServerGiven:
    """A tool server as given on the command line."""

    name: str
    transport: McpTransport
    command: list[str] | None
    url: str | None
    env: dict[str, str]
    headers: dict[str, str]
    bearer_token: SecretStr | None
    timeout_seconds: float


def _register(given: _ServerGiven) -> None:
    """Configure the server (or update the one of that name), list and register its tools,
    and print them."""
    settings = load_settings()

    async def _add(services: Services) -> RefreshResult:
        async with services.database.transaction() as session:
            await tools.ensure_builtin_tools(session)
            server = await _configure_server(session, given, box=secret_box(services.settings))
        # The command's Services close the server's session when it ends.
        return await tools.refresh_server(services.tools, server_id=server.id, user=None)

    kind = "A2A agent" if given.transport == McpTransport.A2A else "MCP server"
    with console.status(f"Connecting to {given.name}..."):
        result = run_with_services(_add, settings)
    console.print(
        f"{kind} [bold]{given.name}[/]: {len(result.created)} new, {len(result.updated)} "
        f"updated, {len(result.unchanged)} unchanged, {len(result.missing)} no longer listed"
    )
    for tool_name in result.created + result.updated + result.unchanged:
        console.print(f"  {tool_name}")


def _token_from(variable: str | None) -> SecretStr | None:
    """The bearer token in the environment variable ``variable`` (exit 2 when it is unset)."""
    if variable is None:
        return None
    token = os.environ.get(variable, "")
    if not token:
        err_console.print(f"[red]--bearer-token-env: {variable} is not set or empty[/]")
        raise typer.Exit(2)
    return SecretStr(token)


async def _configure_server(
    session: AsyncSession, given: _ServerGiven, *, box: SecretBox
) -> McpServerOut:
    """Create the server, or update the one of that name with what was given (its transport
    kept; no environment, headers or token given leaves its own)."""
    command = given.command
    existing = await tools.get_server_by_name(session, name=given.name)
    if existing is None:
        return await tools.create_server(
            session,
            server_in=McpServerCreate(
                name=given.name,
                transport=given.transport,
                command=command[0] if command else None,
                args=command[1:] if command else [],
                env=given.env,
                url=given.url,
                headers=given.headers,
                bearer_token=given.bearer_token,
                timeout_seconds=given.timeout_seconds,
            ),
            user=None,
            box=box,
        )
    return await tools.update_server(
        session,
        server_id=existing.id,
        server_in=McpServerUpdate(
            command=command[0] if command else None,
            args=command[1:] if command else None,
            env=given.env or None,
            url=given.url,
            headers=given.headers or None,
            bearer_token=given.bearer_token,
            timeout_seconds=given.timeout_seconds,
        ),
        user=None,
        box=box,
    )


def _table(items: list[ToolOut]) -> Table:
    table = Table("name", "source", "status", "policy", "capabilities", "score")
    for tool in items:
        table.add_row(
            tool.name,
            tool.source,
            tool.status,
            tool.approval_policy,
            ", ".join(tool.capabilities[:5]),
            f"{tool.score:.2f}" if tool.score is not None else "-",
        )
    return table


@app.command("list")
def list_tools(
    source: ToolSource | None = typer.Option(None, case_sensitive=False),
    status: ToolStatus | None = typer.Option(None, case_sensitive=False),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the registered tools."""
    settings = load_settings()

    async def _list(database: Database) -> list[ToolOut]:
        async with database.transaction() as session:
            await tools.ensure_builtin_tools(session)
            items, _ = await tools.get_all(
                session, limit=10_000, offset=0, source=source, status=status
            )
        return items

    items = run_async(_list, settings)
    if as_json:
        console.print_json(json.dumps([item.model_dump(mode="json") for item in items]))
    else:
        console.print(_table(items))


@app.command("discover")
def discover_tools(
    query: str = typer.Argument(None, help="What the tool should do, in words."),
    capability: str | None = typer.Option(None, help="A capability tag, e.g. file_read."),
    limit: int = typer.Option(10, min=1, max=100),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Rank the registered tools (and configured MCP servers) for a need, with reasons."""
    if not query and not capability:
        err_console.print("[red]Give a query, --capability, or both.[/]")
        raise typer.Exit(2)
    settings = load_settings()

    async def _discover(services: Services) -> DiscoverResult:
        async with services.database.transaction() as session:
            await tools.ensure_builtin_tools(session)
        return await tools.discover(
            services.database,
            request=DiscoverRequest(query=query, capability=capability, limit=limit),
            user=None,
            embedder=services.embedder,
        )

    result = run_with_services(_discover, settings)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    table = Table("score", "kind", "name", "why")
    for candidate in result.candidates:
        table.add_row(
            f"{candidate.score:.2f}", candidate.kind, candidate.name, "; ".join(candidate.reasons)
        )
    console.print(table)


@app.command("call")
def call_tool(
    tool: str = typer.Argument(..., help="The tool's name or id."),
    arguments: str = typer.Option("{}", "--args", help="Arguments as a JSON object."),
    project: uuid.UUID | None = typer.Option(None, help="Project whose workspace it may use."),
    as_user: str | None = typer.Option(
        None, "--as", help="Act as this user (email); default: the local operator."
    ),
    timeout: float | None = typer.Option(None, min=0.1, help="Seconds before giving up."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Call a tool, under its schema and policy, and print the result."""
    parsed = _json_object(arguments)
    settings = load_settings()

    async def _call(services: Services) -> InvokeResult:
        async with services.database.transaction() as session:
            await tools.ensure_builtin_tools(session)
            user = await auth.get_by_email(session, email=as_user) if as_user else None
            found = await _find_tool(session, tool)
        return await services.tools.invoke(
            tool_id=found.id,
            arguments=parsed,
            user=user,
            project_id=project,
            timeout_seconds=timeout,
        )

    result = run_with_services(_call, settings)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    _print_result(result)
    if result.is_error:
        raise typer.Exit(1)


def _json_object(arguments: str) -> dict[str, Any]:
    """The --args JSON object (exit 2 when it is not one)."""
    try:
        parsed: Any = json.loads(arguments)
    except ValueError as exc:
        err_console.print(f"[red]--args is not JSON:[/] {exc}")
        raise typer.Exit(2) from None
    if not isinstance(parsed, dict):
        err_console.print("[red]--args must be a JSON object[/]")
        raise typer.Exit(2)
    return parsed


async def _find_tool(session: AsyncSession, tool: str) -> ToolOut:
    """The tool by its name, else by its id."""
    found = await tools.get_by_name(session, name=tool)
    if found is not None:
        return found
    try:
        return await tools.get(session, tool_id=uuid.UUID(tool))
    except ValueError:
        raise NotFound(f"Tool {tool} not found") from None


def _print_result(result: InvokeResult) -> None:
    """The outcome, then the output: structured content, else its blocks, else its JSON."""
    colour = "red" if result.is_error else "green"
    console.print(f"[{colour}]{result.outcome}[/] {result.tool} in {result.duration_ms:.1f} ms")
    if result.error:
        console.print(f"[red]{result.error}[/]")
    output = result.output
    if isinstance(output, dict) and "content" in output:
        if output.get("structured_content") is not None:
            console.print_json(json.dumps(output["structured_content"]))
        else:
            for block in output["content"]:
                console.print(block.get("text", block))
    else:
        console.print_json(json.dumps(output, default=str))
