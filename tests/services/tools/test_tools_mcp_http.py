"""A streamable HTTP MCP server on loopback (the official SDK's MCPServer under uvicorn, in a
thread): registered over REST with headers and a bearer token it requires, its tools listed,
evaluated and called the way an agent's calls go, the secrets never returned, and a server
restarted under the pool reconnected on the next call."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from typing import Any

import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from typer.testing import CliRunner

from berrys.cli.app import app as cli
from berrys.config import Settings
from berrys.services.tools.tables import McpServer

TOKEN = "tok-s3cret-0123456789"
TENANT = "acme-tenant-value"


class _Guarded:
    """ASGI: a request without the bearer token is a 401; every request's headers are kept.
    ``legacy``: answer ``server/discover`` as a server of the handshake era does (method not
    found), so the client opens a session (``mcp-session-id``) with ``initialize``."""

    def __init__(self, app: Any, *, legacy: bool) -> None:
        self.app = app
        self.legacy = legacy
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
            self.seen.append(headers)
            if headers.get("authorization") != f"Bearer {TOKEN}":
                await _answer(send, 401, b"bearer token required", b"text/plain")
                return
            if self.legacy and scope["method"] == "POST":
                body = await _body(receive)
                message = json.loads(body)
                if message.get("method") == "server/discover":
                    error = {"code": -32601, "message": "Method not found"}
                    reply = {"jsonrpc": "2.0", "id": message.get("id"), "error": error}
                    await _answer(send, 200, json.dumps(reply).encode(), b"application/json")
                    return
                receive = _replay(body, receive)
        await self.app(scope, receive, send)


async def _answer(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """The body already read, then whatever the client sends next (its disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Any:
        return pending.pop() if pending else await receive()

    return replayed


def _mcp_app(*, legacy: bool) -> _Guarded:
    """A fresh server (a session manager runs once per app), guarded by the token."""
    server = MCPServer("remote", version="2.0.1")
    safe = ToolAnnotations(read_only_hint=True, idempotent_hint=True)

    @server.tool(annotations=safe)
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool(annotations=safe)
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    return _Guarded(server.streamable_http_app(host="127.0.0.1"), legacy=legacy)


class _Served:
    """uvicorn serving one app on ``port`` in a thread, until ``stop``."""

    def __init__(self, port: int, *, legacy: bool) -> None:
        self.app = _mcp_app(legacy=legacy)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,  # a session's open event stream is cut, as by a crash
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def start(self) -> _Served:
        self.thread.start()
        async with asyncio.timeout(15):  # uvicorn offers a flag, not an event, for "listening"
            while not self.server.started:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.to_thread(self.thread.join, 15)
        assert not self.thread.is_alive()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def services_settings(settings: Settings) -> Settings:
    """Loopback is private: the egress policy lets these tests reach 127.0.0.1 only."""
    return settings.model_copy(
        update={"tools_fetch_allowed_hosts": ["127.0.0.1"], "tools_fetch_allow_private": True}
    )


@pytest.fixture
async def served():  # type: ignore[no-untyped-def]
    servers: list[_Served] = []

    async def _start(port: int, *, legacy: bool = False) -> _Served:
        servers.append(await _Served(port, legacy=legacy).start())
        return servers[-1]

    yield _start
    for server in servers:
        if server.thread.is_alive():
            await server.stop()


def _register(port: int, **extra: object) -> dict[str, object]:
    return {
        "name": "remote",
        "transport": "STREAMABLE_HTTP",
        "url": f"http://127.0.0.1:{port}/mcp",
        "headers": {"X-Tenant": TENANT},
        "bearer_token": TOKEN,
        **extra,
    }


async def _invoke(client, member, tool: str, arguments: dict) -> Any:  # type: ignore[no-untyped-def]
    return await client.post(
        f"/api/v1/tools/{tool}/invoke", json={"arguments": arguments}, headers=member.headers
    )


@pytest.mark.parametrize("legacy", [False, True], ids=["stateless", "session"])
async def test_a_token_guarded_http_server_is_registered_listed_called_and_reconnected(
    client, admin, member, tool_id, served, services, database, legacy
):
    port = _free_port()
    first = await served(port, legacy=legacy)
    created = await client.post("/api/v1/mcp-servers", json=_register(port), headers=admin.headers)
    assert created.status_code == 201, created.text
    server = created.json()
    assert server["header_names"] == ["X-Tenant", "Authorization"]
    assert server["has_token"] is True
    shown = await client.get(f"/api/v1/mcp-servers/{server['id']}", headers=admin.headers)
    listed = await client.get("/api/v1/mcp-servers", headers=admin.headers)
    for text in (created.text, shown.text, listed.text):
        assert TOKEN not in text
        assert TENANT not in text
    async with database.transaction(read_only=True) as session:
        row = await session.get(McpServer, uuid.UUID(server["id"]))
        assert row.credentials_encrypted
        assert TOKEN not in row.credentials_encrypted

    refreshed = await client.post(
        f"/api/v1/mcp-servers/{server['id']}/refresh", headers=admin.headers
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["created"] == ["remote.add", "remote.echo"]
    assert refreshed.json()["server"]["server_version"] == "2.0.1"
    add_id = await tool_id("remote.add")
    evaluated = await client.post(f"/api/v1/tools/{add_id}/evaluate", headers=member.headers)
    assert evaluated.status_code == 200, evaluated.text
    compatibility = evaluated.json()["details"]["compatibility"]
    assert compatibility["server_reachable"] is True
    assert compatibility["tool_still_listed"] is True
    called = await _invoke(client, member, add_id, {"a": 2, "b": 40})
    assert called.status_code == 200, called.text
    assert called.json()["output"]["structured_content"] == {"result": 42}
    assert first.app.seen
    assert all(
        seen["authorization"] == f"Bearer {TOKEN}" and seen["x-tenant"] == TENANT
        for seen in first.app.seen
    )

    session_ids = {seen.get("mcp-session-id") for seen in first.app.seen} - {None}
    assert len(session_ids) == (1 if legacy else 0)
    connection = services.tools.mcp._connections[uuid.UUID(server["id"])]
    await first.stop()  # the server goes away, with the session it knew
    second = await served(port, legacy=legacy)
    again = await _invoke(client, member, add_id, {"a": 20, "b": 22})
    assert again.status_code == 200, again.text
    assert again.json()["output"]["structured_content"] == {"result": 42}
    if legacy:  # the old session was refused (404): a new one was opened for the call
        assert services.tools.mcp._connections[uuid.UUID(server["id"])] is not connection
        reopened = {seen.get("mcp-session-id") for seen in second.app.seen} - {None}
        assert reopened - session_ids, "no new session was opened"
    else:  # each request stands alone: the same connection reaches the new process
        assert services.tools.mcp._connections[uuid.UUID(server["id"])] is connection


async def test_a_wrong_token_is_a_clear_503_and_a_new_token_is_used(
    client, admin, member, served, database
):
    port = _free_port()
    guarded = await served(port)
    created = await client.post(
        "/api/v1/mcp-servers",
        json=_register(port, bearer_token="not-the-token"),
        headers=admin.headers,
    )
    server_id = created.json()["id"]
    refused = await client.post(f"/api/v1/mcp-servers/{server_id}/refresh", headers=admin.headers)
    assert refused.status_code == 503, refused.text
    assert "could not connect" in refused.json()["detail"]
    patched = await client.patch(
        f"/api/v1/mcp-servers/{server_id}", json={"bearer_token": TOKEN}, headers=admin.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["header_names"] == ["X-Tenant", "Authorization"]
    refreshed = await client.post(f"/api/v1/mcp-servers/{server_id}/refresh", headers=admin.headers)
    assert refreshed.status_code == 200, refreshed.text
    assert guarded.app.seen[-1]["x-tenant"] == TENANT  # the headers stayed with the new token
    cleared = await client.patch(
        f"/api/v1/mcp-servers/{server_id}", json={"bearer_token": ""}, headers=admin.headers
    )
    assert cleared.json()["has_token"] is False
    assert cleared.json()["header_names"] == ["X-Tenant"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"transport": "STDIO", "command": "python", "url": "http://127.0.0.1/mcp"}, "no url"),
        ({"transport": "STDIO", "command": "python", "bearer_token": "x"}, "bearer_token"),
        ({"transport": "STREAMABLE_HTTP"}, "needs an http(s) url"),
        ({"transport": "STREAMABLE_HTTP", "url": "ftp://example.com/mcp"}, "http:// or https://"),
        ({"transport": "STREAMABLE_HTTP", "url": "https://u:p@example.com/mcp"}, "credentials"),
        (
            {"transport": "STREAMABLE_HTTP", "url": "https://example.com/mcp", "command": "x"},
            "no command",
        ),
        (
            {
                "transport": "STREAMABLE_HTTP",
                "url": "https://example.com/mcp",
                "headers": {"Authorization": "Bearer x"},
            },
            "bearer_token",
        ),
        (
            {
                "transport": "STREAMABLE_HTTP",
                "url": "https://example.com/mcp",
                "headers": {"X-Bad": "line\r\nbreak"},
            },
            "visible ASCII",
        ),
    ],
)
async def test_a_server_of_the_wrong_shape_is_a_422(client, admin, body, words):
    refused = await client.post(
        "/api/v1/mcp-servers", json={"name": "shapeless", **body}, headers=admin.headers
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert words in refused.text


async def test_a_stdio_server_takes_no_url_in_an_update(client, admin):
    created = await client.post(
        "/api/v1/mcp-servers",
        json={"name": "local", "command": "python"},
        headers=admin.headers,
    )
    patched = await client.patch(
        f"/api/v1/mcp-servers/{created.json()['id']}",
        json={"url": "https://example.com/mcp", "bearer_token": "x"},
        headers=admin.headers,
    )
    assert patched.status_code == 422, patched.text
    assert "a STDIO server takes no bearer_token, url" in patched.json()["detail"]


async def test_add_mcp_registers_an_http_server_with_the_token_from_the_environment(
    served, settings, database, tmp_path
):
    """``berrys tools add-mcp NAME --url URL --bearer-token-env VAR``, in its own process's
    terms: the command's settings from the environment, the token never on its command line."""
    port = _free_port()
    guarded = await served(port)
    env = {
        "BERRYS_DATA_DIR": str(tmp_path),
        "BERRYS_DATABASE_URL": settings.resolved_database_url,
        "BERRYS_SECRET_KEY": settings.resolved_secret_key,
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
        "BERRYS_TOOLS_FETCH_ALLOWED_HOSTS": '["127.0.0.1"]',
        "BERRYS_TOOLS_FETCH_ALLOW_PRIVATE": "true",
        "REMOTE_TOKEN": TOKEN,
    }
    command = ["tools", "add-mcp", "remote", "--url", f"http://127.0.0.1:{port}/mcp"]
    runner = CliRunner()
    unset = await asyncio.to_thread(
        runner.invoke, cli, [*command, "--bearer-token-env", "NOT_SET_ANYWHERE"], env=env
    )
    assert unset.exit_code == 2
    assert "NOT_SET_ANYWHERE is not set" in unset.output
    added = await asyncio.to_thread(
        runner.invoke,
        cli,
        [*command, "--header", f"X-Tenant={TENANT}", "--bearer-token-env", "REMOTE_TOKEN"],
        env=env,
    )
    assert added.exit_code == 0, added.output
    assert "remote.add" in added.output
    assert TOKEN not in added.output
    assert guarded.app.seen[-1]["authorization"] == f"Bearer {TOKEN}"
    assert guarded.app.seen[-1]["x-tenant"] == TENANT
