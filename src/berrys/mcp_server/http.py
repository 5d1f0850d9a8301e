"""The MCP server over streamable HTTP at ``/mcp`` on the application: a bearer token checked
before any MCP message (401 problem+json otherwise), and the SDK's session manager run
inside the application's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from berrys.core.errors import Unauthorized, problem_response
from berrys.mcp_server import server
from berrys.mcp_server.edge import USER_SCOPE_KEY, Edge, http_caller
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.wiring import Services

PATH = "/mcp"


class McpEndpoint:
    """The ASGI endpoint at ``/mcp``: authenticates, then hands the request to the SDK."""

    def __init__(self, services: Callable[[], Services]) -> None:
        self._services = services
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Serve MCP while the application runs: a session manager runs only once, so each
        start of the application gets a new one (and an app never started builds none)."""
        mcp = server.build(Edge(services=self._services, caller=http_caller))
        mcp.streamable_http_app(
            # Stateless, plain JSON answers: any replica answers any request, nothing is
            # held between requests; every request carries its own token.
            stateless_http=True,
            json_response=True,
            # Callers authenticate with a bearer token, never a cookie, so a page a browser
            # was tricked into loading (DNS rebinding) has no credential to use.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = mcp.session_manager
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            scope[USER_SCOPE_KEY] = await self._authenticate(Headers(scope=scope))
        except Unauthorized as error:
            response = problem_response(
                error.status, error.title, error.detail, headers={"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        if self._manager is None:
            unavailable = problem_response(503, "Service unavailable", "The server is starting")
            await unavailable(scope, receive, send)
            return
        await self._manager.handle_request(scope, receive, send)

    async def _authenticate(self, headers: Headers) -> UserOut:
        return await auth.bearer_user(self._services().database, headers.get("authorization", ""))


def route(endpoint: McpEndpoint) -> Route:
    """``/mcp`` for every method the transport uses (POST, GET, DELETE); not in OpenAPI."""
    return Route(PATH, endpoint=endpoint, include_in_schema=False)
