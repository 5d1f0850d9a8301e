"""Dashboard sessions and CSRF.

The session cookie holds a login token of the auth service (stored hashed, revoked on
logout, expiring with ``token_ttl_hours``): a browser session is exactly a bearer session.
It is HttpOnly, SameSite=Lax, and Secure over https. CSRF: every browser gets a random
``berrys_csrf`` cookie (HttpOnly, SameSite=Strict); each form's token is an HMAC of that
nonce and the session, keyed by the secret key. A POST whose ``csrf_token`` field (or
``X-CSRF-Token`` header) does not match is refused with 403 before the route runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response

from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut

SESSION_COOKIE = "berrys_session"
CSRF_COOKIE = "berrys_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CSRF_FAILED = "CSRF token validation failed"


class LoginRequired(Exception):
    """No valid session: the handler sends the browser to /login."""


class CsrfFailed(Exception):
    """A state-changing request without a valid CSRF token."""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _nonce(request: Request) -> str:
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(CSRF_COOKIE)
    if not nonce:
        nonce = secrets.token_urlsafe(32)
        request.state.csrf_nonce_new = True
    request.state.csrf_nonce = nonce
    return nonce


def csrf_token(request: Request) -> str:
    """The token forms of this page carry (bound to this browser and its session)."""
    settings: Settings = request.app.state.settings
    session = request.cookies.get(SESSION_COOKIE, "")
    if getattr(request.state, "session_token", None) is not None:
        session = request.state.session_token
    message = f"{_nonce(request)}|{hashlib.sha256(session.encode()).hexdigest()}"
    key = settings.resolved_secret_key.encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def remember_csrf_cookie(request: Request, response: Response) -> None:
    """Set the CSRF nonce cookie when this response is the first to use it."""
    if getattr(request.state, "csrf_nonce_new", False):
        response.set_cookie(
            CSRF_COOKIE,
            request.state.csrf_nonce,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path="/",
        )


async def csrf_protect(request: Request) -> None:
    """Refuse the request unless it carries the valid token (form field or header)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not request.cookies.get(CSRF_COOKIE) or not sent:
        raise CsrfFailed
    if not hmac.compare_digest(sent, csrf_token(request)):
        raise CsrfFailed


async def optional_user(request: Request) -> UserOut | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    database: Database = request.app.state.database
    async with database.transaction(read_only=True) as session:
        return await auth.user_for_token(session, token)


async def web_user(request: Request) -> UserOut:
    user = await optional_user(request)
    if user is None:
        raise LoginRequired
    request.state.user = user
    return user


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def start_session(request: Request, response: Response, token: str, max_age: int) -> None:
    request.state.session_token = token
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )


def safe_next(target: str | None) -> str:
    """Only local paths: a login link cannot send the browser to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


WebUser = Annotated[UserOut, Depends(web_user)]
MaybeUser = Annotated[UserOut | None, Depends(optional_user)]
Csrf = Depends(csrf_protect)
