"""Who is calling: the dependencies every router uses to authenticate and authorise."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from berrys.core.deps import Reads
from berrys.core.enums import UserRole
from berrys.core.errors import Forbidden, Unauthorized
from berrys.services.auth import service
from berrys.services.auth.contracts import UserOut

_bearer = HTTPBearer(auto_error=False, description="A login or personal API token.")
_WRITERS = frozenset({UserRole.ADMIN, UserRole.MEMBER})


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("Missing bearer token; log in at POST /api/v1/auth/login")
    return credentials.credentials


async def current_user(reads: Reads, token: Annotated[str, Depends(bearer_token)]) -> UserOut:
    async with reads.transaction() as session:
        user = await service.user_for_token(session, token)
    if user is None:
        raise Unauthorized("Invalid, expired or revoked token")
    return user


async def writer(user: Annotated[UserOut, Depends(current_user)]) -> UserOut:
    if user.role not in _WRITERS:
        raise Forbidden(f"Role {user.role} can only read; writing needs MEMBER or ADMIN")
    return user


async def admin(user: Annotated[UserOut, Depends(current_user)]) -> UserOut:
    if user.role != UserRole.ADMIN:
        raise Forbidden("Only an ADMIN may do this")
    return user


CurrentUser = Annotated[UserOut, Depends(current_user)]
WriterUser = Annotated[UserOut, Depends(writer)]
AdminUser = Annotated[UserOut, Depends(admin)]
Token = Annotated[str, Depends(bearer_token)]
