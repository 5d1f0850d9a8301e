"""The A2A edge on the application: the agent card at ``/.well-known/agent-card.json``
(public, as A2A clients fetch it first) and the JSON-RPC endpoint at ``/a2a``, which checks
the bearer token before any A2A message (401 problem+json otherwise)."""

from __future__ import annotations

from collections.abc import Callable

from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from berrys.a2a_server.card import RPC_PATH, agent_card
from berrys.a2a_server.handler import USER_STATE_KEY, BerrysRequestHandler
from berrys.core.errors import Unauthorized, problem_response
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.wiring import Services


class _BerrysUser(User):
    def __init__(self, user: UserOut) -> None:
        self._user = user

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self._user.email


class _CallContexts(DefaultServerCallContextBuilder):
    """The SDK's context (headers, extensions) with the user the gate authenticated."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        user: UserOut = request.scope[USER_STATE_KEY]
        context.state[USER_STATE_KEY] = user
        context.user = _BerrysUser(user)
        return context


class A2aEndpoint:
    """The ASGI endpoint at ``/a2a``: authenticates, then hands the request to the SDK's
    JSON-RPC dispatcher over Berrys' request handler."""

    def __init__(self, services: Callable[[], Services]) -> None:
        self._services = services
        self._dispatcher = JsonRpcDispatcher(
            request_handler=BerrysRequestHandler(services), context_builder=_CallContexts()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = Headers(scope=scope).get("authorization", "")
        try:
            scope[USER_STATE_KEY] = await auth.bearer_user(self._services().database, authorization)
        except Unauthorized as error:
            refused = problem_response(
                error.status, error.title, error.detail, headers={"WWW-Authenticate": "Bearer"}
            )
            await refused(scope, receive, send)
            return
        response = await self._dispatcher.handle_requests(Request(scope, receive))
        await response(scope, receive, send)


def routes(services: Callable[[], Services]) -> list[Route]:
    """The card and the JSON-RPC endpoint; neither is in the OpenAPI document (A2A
    describes them)."""

    async def card(request: Request) -> Response:
        public = services().settings.public_url
        base = (public or str(request.base_url)).rstrip("/")
        return JSONResponse(agent_card_to_dict(agent_card(base)))

    return [
        Route(AGENT_CARD_WELL_KNOWN_PATH, endpoint=card, methods=["GET"], include_in_schema=False),
        Route(RPC_PATH, endpoint=A2aEndpoint(services), methods=["POST"], include_in_schema=False),
    ]
