"""The MCP client: one reused session per configured server, reconnected when it dies.

Each connection is owned by one background task that enters the SDK's ``Client`` (its
transport's task groups must be entered and left by the same task) and holds it open
until asked to stop. Callers from any task send requests through that session; a call
that finds the connection dead reconnects once. Every wait is bounded by the server's
timeout, so a server that crashes, hangs or answers garbage gets a clear error and is
marked unhealthy; nothing waits on it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

import httpx2
import mcp_types
import structlog
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, INVALID_REQUEST, REQUEST_TIMEOUT
from pydantic import ValidationError

from berrys.config import Settings
from berrys.core.encryption import SecretUnreadable, secret_box
from berrys.services.tools._credentials import request_headers
from berrys.services.tools._egress import check as egress_check
from berrys.services.tools.contracts import McpTransport

_log = structlog.get_logger("berrys.tools.mcp")
_STDERR_TAIL = 2000
_Answer = TypeVar("_Answer")  # what one request to a server gives
_STDERR_SEPARATOR = "; server stderr: "
_SDK_PARSE_ERROR = "Failed to parse JSONRPC message from server"


class _QuietParseErrors(logging.Filter):
    """The SDK logs every line a server prints that is not JSON-RPC at ERROR, with a
    traceback. The pool reports such a server itself (its connect or call fails with a
    clear McpFailure), so those lines go to the log file at INFO, not onto a command's
    stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _SDK_PARSE_ERROR and record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


logging.getLogger("mcp.client.stdio").addFilter(_QuietParseErrors())


class McpFailure(Exception):
    """The server could not answer: it is down, crashed, hung or spoke garbage."""

    # What the server is, in messages (a remote A2A agent's failure says so).
    kind = "MCP server"

    def __init__(self, server: str, detail: str, *, timed_out: bool = False) -> None:
        super().__init__(f"{self.kind} {server!r}: {detail}")
        self.server = server
        self.detail = detail
        self.timed_out = timed_out


@dataclass(frozen=True)
class McpServerSpec:
    """Everything needed to reach a server; a changed spec means a new connection."""

    id: uuid.UUID
    name: str
    transport: McpTransport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str | None = None
    # Decrypted: never in a repr (a log line).
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # Why the stored headers could not be decrypted: the connection fails with it.
    credentials_error: str | None = None
    timeout_seconds: float = 30.0
    # Whose egress policy an HTTP server's URL passes (not part of what identifies it).
    settings: Settings | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, row: Any, settings: Settings) -> McpServerSpec:
        headers: dict[str, str] = {}
        error = None
        try:
            headers = request_headers(secret_box(settings), row)
        except SecretUnreadable as exc:
            error = f"its stored headers are unreadable: {exc}"
        return cls(
            id=row.id,
            name=row.name,
            transport=McpTransport(row.transport),
            command=row.command,
            args=tuple(str(arg) for arg in row.args or ()),
            env=tuple(sorted((str(k), str(v)) for k, v in (row.env or {}).items())),
            url=row.url,
            headers=tuple(sorted(headers.items())),
            credentials_error=error,
            timeout_seconds=float(row.timeout_seconds),
            settings=settings,
        )


@dataclass
class McpHealth:
    healthy: bool | None = None
    connected: bool = False
    last_error: str | None = None
    checked_at: float | None = None
    server_version: str | None = None
    protocol_version: str | None = None


@dataclass
class _Connection:
    spec: McpServerSpec
    client: Client | None = None
    error: BaseException | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    stderr: IO[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.client is not None and not self.done.is_set() and not _closed(self.client)

    def client_for(self, spec: McpServerSpec) -> Client | None:
        """The session, when it is alive and opened with ``spec`` as it is now."""
        return self.client if self.alive and self.spec == spec else None

    def stderr_tail(self) -> str:
        if self.stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self.stderr.flush()
            self.stderr.seek(0, 2)
            size = self.stderr.tell()
            self.stderr.seek(max(0, size - _STDERR_TAIL))
            return self.stderr.read().decode("utf-8", "replace").strip()
        return ""


def _closed(client: Client) -> bool:
    """Whether the session already saw its transport end (a server that died while idle).

    The SDK keeps this on its dispatcher; a request sent after it would fail unsent, so the
    pool reconnects first instead.
    """
    dispatcher = getattr(client.session, "_dispatcher", None)
    return bool(getattr(dispatcher, "_closed", False))


def _stdio(spec: McpServerSpec, connection: _Connection) -> Any:
    if not spec.command:
        raise McpFailure(spec.name, "a STDIO server needs a command")
    connection.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the connection
    params = StdioServerParameters(
        command=spec.command, args=list(spec.args), env=dict(spec.env) or None
    )
    # The SDK hands errlog to the subprocess as its stderr, where a binary file serves;
    # its annotation says TextIO.
    return stdio_client(params, errlog=connection.stderr)  # type: ignore[arg-type]


async def _streamable_http(spec: McpServerSpec, stack: contextlib.AsyncExitStack) -> Any:
    """The HTTP transport, once the URL passed the tools' egress policy (checked at every
    connect: what the name resolves to may have changed since it was registered)."""
    if not spec.url:
        raise McpFailure(spec.name, "a STREAMABLE_HTTP server needs a url")
    if spec.credentials_error:
        raise McpFailure(spec.name, spec.credentials_error)
    if spec.settings is not None:
        await egress_check(spec.url, spec.settings)
    http = create_mcp_http_client(
        headers=dict(spec.headers) or None,
        timeout=httpx2.Timeout(spec.timeout_seconds, read=spec.timeout_seconds),
    )
    await stack.enter_async_context(http)
    return streamable_http_client(spec.url, http_client=http)


async def _own(connection: _Connection) -> None:
    """The owner task: open the session, publish it, hold it until stopped or broken."""
    spec = connection.spec
    try:
        async with contextlib.AsyncExitStack() as stack:
            if spec.transport == McpTransport.STDIO:
                transport = _stdio(spec, connection)
            else:
                transport = await _streamable_http(spec, stack)
            client = Client(
                transport,
                mode="auto",
                read_timeout_seconds=spec.timeout_seconds,
                client_info=mcp_types.Implementation(name="berrys", version="0.1.0"),
                cache=None,
            )
            await stack.enter_async_context(client)
            connection.client = client
            connection.ready.set()
            await connection.stop.wait()
    except asyncio.CancelledError:
        if not connection.stop.is_set():
            raise
    except BaseException as exc:  # a dead transport surfaces here, whatever its type
        connection.error = exc
        # INFO: whoever waits on the connection gets the reason as an McpFailure and
        # reports it (a 503, a one-line CLI error, the server's health).
        _log.info("mcp.connection_ended", server=spec.name, error=_describe(exc))
    finally:
        connection.client = None
        connection.done.set()
        connection.ready.set()


# How a 404 for an HTTP session the server no longer knows (it restarted) reaches the pool:
# the SDK server's JSON-RPC error, or the SDK client's stand-in for a bare 404.
_SESSION_GONE = frozenset({"Session not found", "Session terminated"})


def _session_lost(exc: MCPError) -> bool:
    return exc.code == INVALID_REQUEST and exc.message in _SESSION_GONE


def failure_line(detail: str, limit: int = 300) -> str:
    """A server's failure as one line: what went wrong and the last line it printed on
    stderr (a Python server's traceback ends with its error), at most ``limit`` long."""
    reason, _, stderr = detail.partition(_STDERR_SEPARATOR)
    printed = [line.strip() for line in stderr.splitlines() if line.strip()]
    line = f"{reason}; its stderr ends: {printed[-1]}" if printed else reason
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    if isinstance(exc, MCPError):
        return f"{exc.message} (code {exc.code})"
    if isinstance(exc, ValidationError):
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:5])
        return f"{exc.error_count()} validation errors for {exc.title} ({fields})"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class McpPool:
    """Connections by server id, for the event loop that opened them."""

    def __init__(self) -> None:
        self._connections: dict[uuid.UUID, _Connection] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._health: dict[uuid.UUID, McpHealth] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def _same_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Connections of a finished loop (one CLI command, one test session) are gone.
            self._connections.clear()
            self._locks.clear()
            self._loop = loop

    def health(self, server_id: uuid.UUID) -> McpHealth:
        return self._health.get(server_id, McpHealth())

    def _mark(self, spec: McpServerSpec, *, healthy: bool, error: str | None = None) -> None:
        health = self._health.setdefault(spec.id, McpHealth())
        health.healthy = healthy
        health.last_error = error
        health.checked_at = time.time()
        connection = self._connections.get(spec.id)
        health.connected = bool(connection and connection.alive and healthy)
        if connection and connection.client is not None and healthy:
            session = connection.client.session
            info = session.server_info
            health.server_version = info.version if info else None
            health.protocol_version = session.protocol_version

    async def _connect(self, spec: McpServerSpec) -> Client:
        connection = _Connection(spec=spec)
        connection.task = asyncio.create_task(_own(connection), name=f"mcp:{spec.name}")
        try:
            async with asyncio.timeout(spec.timeout_seconds):
                await connection.ready.wait()
        except TimeoutError:
            detail = f"did not finish connecting within {spec.timeout_seconds:g}s"
            failure = self._fail(spec, connection, detail, timed_out=True)
            await self._stop(connection)
            raise failure from None
        if connection.client is None:
            await connection.done.wait()
            reason = _describe(connection.error) if connection.error else "connection closed"
            failure = self._fail(spec, connection, f"could not connect: {reason}")
            await self._stop(connection)
            raise failure
        self._connections[spec.id] = connection
        self._mark(spec, healthy=True)
        _log.debug("mcp.connected", server=spec.name)
        return connection.client

    def _fail(
        self, spec: McpServerSpec, connection: _Connection | None, detail: str, **kw: Any
    ) -> McpFailure:
        tail = connection.stderr_tail() if connection else ""
        if tail:
            detail = f"{detail}{_STDERR_SEPARATOR}{tail[-500:]}"
        self._mark(spec, healthy=False, error=detail)
        return McpFailure(spec.name, detail, **kw)

    async def _stop(self, connection: _Connection) -> None:
        connection.stop.set()
        task = connection.task
        if task is not None and not task.done() and connection.client is None:
            task.cancel()  # still connecting: nothing to close politely
            with contextlib.suppress(BaseException):
                await task
        if task is not None and not task.done():
            try:
                async with asyncio.timeout(10):
                    await asyncio.shield(connection.done.wait())
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if connection.stderr is not None:
            with contextlib.suppress(OSError):
                connection.stderr.close()
        if self._connections.get(connection.spec.id) is connection:
            del self._connections[connection.spec.id]

    async def client(self, spec: McpServerSpec) -> Client:
        """The live session for ``spec``: reused, or (re)connected under a per-server lock."""
        self._same_loop()
        connection = self._connections.get(spec.id)
        client = connection.client_for(spec) if connection is not None else None
        if client is not None:
            return client
        lock = self._locks.setdefault(spec.id, asyncio.Lock())
        async with lock:
            connection = self._connections.get(spec.id)
            if connection is not None:
                client = connection.client_for(spec)
                if client is not None:
                    return client
                await self._stop(connection)
            return await self._connect(spec)

    async def _request(
        self,
        spec: McpServerSpec,
        method: str,
        work: Callable[[Client], Awaitable[_Answer]],
        timeout_seconds: float | None,
    ) -> _Answer:
        limit = timeout_seconds or spec.timeout_seconds
        for attempt in (1, 2):
            client = await self.client(spec)
            try:
                async with asyncio.timeout(limit):
                    return await work(client)
            except TimeoutError:
                detail, timed_out = f"{method} did not answer within {limit:g}s", True
            except MCPError as exc:
                if attempt == 1 and _session_lost(exc):
                    await self._drop(spec)
                    continue  # the server refused the request unrun: safe to send anew
                if exc.code == CONNECTION_CLOSED:
                    if attempt == 1 and method == "tools/list":
                        await self._drop(spec)
                        continue  # a listing is safe to repeat on a fresh connection
                    detail, timed_out = f"{method}: the server closed the connection", False
                elif exc.code == REQUEST_TIMEOUT:
                    detail, timed_out = f"{method} did not answer within {limit:g}s", True
                else:
                    # A JSON-RPC error from a live server: the server is fine, the call is not.
                    self._mark(spec, healthy=True)
                    raise McpFailure(spec.name, f"{method} failed: {_describe(exc)}") from None
            except (McpFailure, asyncio.CancelledError):
                raise
            except Exception as exc:  # a malformed answer fails validation in the SDK
                detail, timed_out = f"{method}: malformed answer: {_describe(exc)}", False
            # The session is suspect: drop it (closing it in the background, so the caller
            # hears now, not after the process's shutdown) and report the server's last words.
            connection = self._connections.pop(spec.id, None)
            failure = self._fail(spec, connection, detail, timed_out=timed_out)
            if connection is not None:
                self._closing.add(asyncio.create_task(self._stop(connection)))
                self._closing = {task for task in self._closing if not task.done()}
            raise failure
        raise AssertionError("unreachable")  # pragma: no cover

    async def _drop(self, spec: McpServerSpec) -> None:
        connection = self._connections.get(spec.id)
        if connection is not None:
            await self._stop(connection)

    async def list_tools(
        self, spec: McpServerSpec, *, timeout_seconds: float | None = None
    ) -> list[mcp_types.Tool]:
        """Every tool the server lists (all pages)."""

        async def work(client: Client) -> list[mcp_types.Tool]:
            tools: list[mcp_types.Tool] = []
            cursor: str | None = None
            for _ in range(100):
                page = await client.list_tools(cursor=cursor, cache_mode="refresh")
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
            return tools

        tools = await self._request(spec, "tools/list", work, timeout_seconds)
        self._mark(spec, healthy=True)
        return tools

    async def call_tool(
        self,
        spec: McpServerSpec,
        name: str,
        arguments: Mapping[str, Any],
        *,
        timeout_seconds: float | None = None,
    ) -> mcp_types.CallToolResult:
        """Call one tool on the reused session; a dead session is reconnected first."""

        async def work(client: Client) -> mcp_types.CallToolResult:
            return await client.session.call_tool(
                name, dict(arguments), read_timeout_seconds=timeout_seconds or spec.timeout_seconds
            )

        return await self._request(spec, "tools/call", work, timeout_seconds)

    async def check(self, spec: McpServerSpec) -> McpHealth:
        """Connect if needed and list tools: the server's health, measured now."""
        with contextlib.suppress(McpFailure):
            await self.list_tools(spec)
        return self.health(spec.id)

    async def close(self, server_id: uuid.UUID) -> None:
        connection = self._connections.get(server_id)
        if connection is not None:
            await self._stop(connection)

    async def close_all(self) -> None:
        """Stop every session (the app's shutdown)."""
        if self._loop is not asyncio.get_running_loop():
            self._connections.clear()
            return
        for connection in list(self._connections.values()):
            await self._stop(connection)
        for task in list(self._closing):
            with contextlib.suppress(BaseException):
                await task
        self._closing.clear()
