"""Who is calling: the dependencies every router uses to authenticate and authorise."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from berrys.core.deps import Session, dependency_reads
from berrys.core.errors import Unauthorized
from berrys.services.auth import service
from berrys.services.auth.contracts import UserOut


class _BearerToken(HTTPBearer):
    """The bearer token itself, or 401 as problem+json; the OpenAPI scheme stays HTTPBearer.

    One dependency where HTTPBearer plus a check would be two: every node of the
    dependency graph costs FastAPI time on every request."""

    # Narrower than HTTPBearer's (credentials or None): only FastAPI calls it, and it reads
    # the dependency's value from this signature.
    async def __call__(self, request: Request) -> str:  # type: ignore[override]
        credentials = await super().__call__(request)
        if credentials is None:
            raise Unauthorized("Missing bearer token; log in at POST /api/v1/auth/login")
        return credentials.credentials


bearer_token = _BearerToken(
    auto_error=False, scheme_name="HTTPBearer", description="A login or personal API token."
)


async def current_user(
    request: Request, session: Session, token: Annotated[str, Depends(bearer_token)]
) -> UserOut:
    async with dependency_reads(request, session) as reads:
        user = await service.user_for_token(reads, token)
    if user is None:
        raise Unauthorized("Invalid, expired or revoked token")
    return user


async def writer(user: Annotated[UserOut, Depends(current_user)]) -> UserOut:
    service.require_writer(user)
    return user


async def admin(user: Annotated[UserOut, Depends(current_user)]) -> UserOut:
    service.require_admin(user)
    return user


CurrentUser = Annotated[UserOut, Depends(current_user)]
WriterUser = Annotated[UserOut, Depends(writer)]
AdminUser = Annotated[UserOut, Depends(admin)]
Token = Annotated[str, Depends(bearer_token)]
