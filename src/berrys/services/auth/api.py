"""REST routes of accounts: login, the caller, users (ADMIN) and API tokens."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from berrys.core.contracts import ListOf
from berrys.core.deps import DatabaseDep, PageDep, Session, SettingsDep
from berrys.services.auth import service
from berrys.services.auth.contracts import (
    LoginRequest,
    PersonalTokenCreate,
    PersonalTokenCreated,
    PersonalTokenOut,
    TokenOut,
    UserCreate,
    UserOut,
)
from berrys.services.auth.deps import AdminUser, CurrentUser, Token

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post(
    "/auth/login",
    response_model=TokenOut,
    responses={
        401: {"description": "Wrong email or password (the same answer for both)."},
        429: {"description": "Too many failed logins from this address; see Retry-After."},
    },
)
async def login(
    body: LoginRequest, request: Request, database: DatabaseDep, settings: SettingsDep
) -> TokenOut:
    """Exchange email and password for a bearer token."""
    client = request.client.host if request.client else None
    return await service.login(
        database,
        settings,
        email=body.email,
        password=body.password.get_secret_value(),
        client=client,
    )


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(session: Session, user: CurrentUser, token: Token) -> None:
    """Revoke the token used for this request."""
    await service.logout(session, token=token, user=user)


@router.get("/auth/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return user


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, session: Session, admin: AdminUser) -> UserOut:
    """Create a user (ADMIN only)."""
    return await service.create_user(session, user_in=body, actor_id=admin.id)


@router.post(
    "/auth/tokens", response_model=PersonalTokenCreated, status_code=status.HTTP_201_CREATED
)
async def create_token(
    body: PersonalTokenCreate, session: Session, user: CurrentUser
) -> PersonalTokenCreated:
    """Create a personal API token; the token is shown in this response only."""
    return await service.create_personal_token(session, user=user, token_in=body)


@router.get("/auth/tokens", response_model=ListOf[PersonalTokenOut])
async def list_tokens(
    session: Session, user: CurrentUser, page: PageDep
) -> ListOf[PersonalTokenOut]:
    items, total = await service.get_personal_tokens(
        session, user=user, limit=page.limit, offset=page.offset
    )
    return ListOf[PersonalTokenOut](items=items, total=total)


@router.delete("/auth/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: uuid.UUID, session: Session, user: CurrentUser) -> None:
    await service.revoke_personal_token(session, user=user, token_id=token_id)
