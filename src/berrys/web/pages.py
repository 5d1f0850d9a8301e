"""Dashboard pages: home, login and logout, settings (tokens, Berry's prompts)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from berrys.config import Settings
from berrys.core.db import Database
from berrys.core.errors import BerrysError
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import PersonalTokenCreate, UserRole
from berrys.services.chat import service as chat
from berrys.services.chat.contracts import PromptOut
from berrys.services.llm import service as llm
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.web.security import (
    SESSION_COOKIE,
    Csrf,
    MaybeUser,
    WebUser,
    end_session,
    safe_next,
    start_session,
)
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)


def _database(request: Request) -> Database:
    database: Database = request.app.state.services.database
    return database


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, user: MaybeUser) -> Response:
    """What to do next: log in, then talk to Berry, then team, plan, run."""
    if user is None:
        return render(request, "home.html", user=None)
    request.state.user = user
    async with _database(request).transaction(read_only=True) as session:
        recent, total = await projects.get_all(session, user=user, limit=5, offset=0)
        sessions, _ = await chat.get_sessions(session, user=user, limit=5, offset=0)
    return render(request, "home.html", projects=recent, total=total, sessions=sessions)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, user: MaybeUser, next: str | None = None) -> Response:
    if user is not None:
        return see_other(safe_next(next))
    return render(request, "login.html", next=safe_next(next))


@router.post("/login", dependencies=[Csrf], response_class=HTMLResponse)
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    settings: Settings = request.app.state.services.settings
    client = request.client.host if request.client else None
    try:
        token = await auth.login(
            _database(request), settings, email=email, password=password, client=client
        )
    except BerrysError as exc:
        return render(
            request,
            "login.html",
            status_code=exc.status,
            error=exc.detail,
            email=email,
            next=safe_next(next),
        )
    response = see_other(safe_next(next))
    max_age = int(timedelta(hours=settings.token_ttl_hours).total_seconds())
    start_session(request, response, token.access_token, max_age)
    return response


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request, user: MaybeUser) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if user is not None and token:
        async with _database(request).transaction() as session:
            await auth.logout(session, token=token, user=user)
    response = see_other("/login")
    end_session(request, response)
    return response


async def _settings_page(
    request: Request, user: WebUser, status_code: int = 200, **extra: object
) -> Response:
    database = _database(request)
    is_admin = user.role == UserRole.ADMIN
    async with database.transaction(read_only=True) as session:
        tokens, _ = await auth.get_personal_tokens(session, user=user, limit=200, offset=0)
        prompts = await chat.get_prompts(session)
        # The engine's live workers and the providers' load: an ADMIN's view, as REST's.
        workers = await runs.workers(session) if is_admin else []
        loads = await llm.provider_loads(session) if is_admin and not database.is_sqlite else []
    return render(
        request,
        "settings.html",
        status_code=status_code,
        tokens=tokens,
        prompts=prompts,
        is_admin=is_admin,
        workers=workers,
        loads=loads,
        **extra,
    )


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request, user: WebUser) -> Response:
    return await _settings_page(request, user)


@router.post("/settings/tokens", dependencies=[Csrf], response_class=HTMLResponse)
async def create_token(
    request: Request,
    user: WebUser,
    name: Annotated[str, Form(max_length=200)],
    expires_in_days: Annotated[int | None, Form(ge=1, le=3650)] = 90,
) -> Response:
    try:
        token_in = PersonalTokenCreate(name=name, expires_in_days=expires_in_days)
    except ValueError:
        return await _settings_page(
            request, user, 422, flash="Give the token a name.", flash_kind="error"
        )
    async with _database(request).transaction() as session:
        created = await auth.create_personal_token(session, user=user, token_in=token_in)
    return await _settings_page(request, user, new_token=created)


@router.post("/settings/tokens/{token_id}/revoke", dependencies=[Csrf], response_class=HTMLResponse)
async def revoke_token(request: Request, user: WebUser, token_id: uuid.UUID) -> Response:
    try:
        async with _database(request).transaction() as session:
            await auth.revoke_personal_token(session, user=user, token_id=token_id)
    except BerrysError as exc:
        return await _settings_page(request, user, exc.status, flash=exc.detail, flash_kind="error")
    return see_other("/settings")


@router.post("/settings/prompts/{name}", dependencies=[Csrf], response_class=HTMLResponse)
async def update_prompt(
    request: Request,
    user: WebUser,
    name: str,
    content: Annotated[str, Form(max_length=20_000)] = "",
    reset: Annotated[str | None, Form()] = None,
) -> Response:
    if user.role != UserRole.ADMIN:
        return await _settings_page(
            request, user, 403, flash="Only an ADMIN may edit Berry's prompts.", flash_kind="error"
        )
    if name not in {p.name for p in await _prompts(request)}:
        return await _settings_page(request, user, 404, flash="No such prompt.", flash_kind="error")
    async with _database(request).transaction() as session:
        if reset or not content.strip():
            await chat.reset_prompt(session, name=name, user=user)
        else:
            await chat.update_prompt(session, name=name, content=content.strip(), user=user)
    return await _settings_page(request, user, flash=f"Saved Berry's {name} prompt.")


async def _prompts(request: Request) -> list[PromptOut]:
    async with _database(request).transaction(read_only=True) as session:
        return await chat.get_prompts(session)
