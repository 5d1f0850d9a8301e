"""What every tool and resource shares: the application's ``Services``, the user a request
acts for, and domain errors turned into MCP errors with the messages problem+json gives."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from pydantic import ValidationError

from berrys.core.errors import BerrysError, NotFound, Unauthorized
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.wiring import Services

# The scope key the HTTP gate stores the authenticated user under (an ASGI extension key).
USER_SCOPE_KEY = "berrys.user"


@dataclass(frozen=True, slots=True)
class Edge:
    """The MCP server's lifespan state: how to reach the services and who is calling."""

    services: Callable[[], Services]
    caller: Callable[[Context[Any, Any]], Awaitable[UserOut]]


EdgeContext = Context[Edge, Any]


def edge_of(ctx: EdgeContext) -> Edge:
    return ctx.request_context.lifespan_context


async def user_of(ctx: EdgeContext) -> UserOut:
    """The user this request acts for (the transport authenticated them)."""
    return await edge_of(ctx).caller(ctx)


async def writer_of(ctx: EdgeContext) -> UserOut:
    """The user, who must be allowed to change things (MEMBER or ADMIN)."""
    user = await user_of(ctx)
    auth.require_writer(user)
    return user


async def http_caller(ctx: Context[Any, Any]) -> UserOut:
    """Over HTTP: the user the gate authenticated from this request's bearer token."""
    request = ctx.request_context.request
    user = getattr(request, "scope", {}).get(USER_SCOPE_KEY)
    if not isinstance(user, UserOut):
        raise Unauthorized("Missing bearer token; send Authorization: Bearer <API token>")
    return user


def token_caller(services: Callable[[], Services], token: str) -> Callable[..., Awaitable[UserOut]]:
    """Over stdio: the user of ``token``, checked on every call as REST checks each request
    (a token revoked meanwhile stops working)."""

    async def caller(_: Context[Any, Any]) -> UserOut:
        return await user_for_token(services(), token)

    return caller


async def user_for_token(services: Services, token: str) -> UserOut:
    """The active user of a valid token, else Unauthorized with REST's message."""
    return await auth.valid_token_user(services.database, token)


def lifespan(edge: Edge) -> Callable[[Any], Any]:
    """The MCP server's lifespan: it only hands the tools their ``Edge``."""

    @asynccontextmanager
    async def hold(_: Any) -> AsyncIterator[Edge]:
        yield edge

    return hold


def message(error: BerrysError) -> str:
    """What problem+json says: its title and detail."""
    return f"{error.title} ({error.status}): {error.detail}"


@asynccontextmanager
async def tool_errors() -> AsyncIterator[None]:
    """Domain and validation errors become tool errors the client reads."""
    try:
        yield
    except BerrysError as error:
        raise ToolError(message(error)) from error
    except ValidationError as error:
        raise ToolError(f"Unprocessable (422): {_validation_detail(error)}") from error


@asynccontextmanager
async def resource_errors() -> AsyncIterator[None]:
    """Domain errors become resource errors: not found stays not found."""
    try:
        yield
    except NotFound as error:
        raise ResourceNotFoundError(message(error)) from error
    except BerrysError as error:
        raise ResourceError(message(error)) from error


def resource_id(value: str, what: str) -> uuid.UUID:
    """A UUID from a resource URI, or not found (a malformed id names nothing)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ResourceNotFoundError(f"Not found (404): no {what} {value!r}") from None


def _validation_detail(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'input'}: {item['msg']}"
        for item in error.errors()
    )
