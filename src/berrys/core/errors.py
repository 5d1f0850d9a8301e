"""Domain errors, each mapped once to an HTTP status and rendered as problem+json (RFC 9457)."""

from __future__ import annotations

import errno
import re
import sqlite3
from collections.abc import Iterable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
_log = structlog.get_logger("berrys.errors")


class BerrysError(Exception):
    """Base of every error a caller may catch; ``status`` is its HTTP status."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


class NotFound(BerrysError):
    status = 404
    title = "Not found"

    @classmethod
    def of(cls, kind: str, ident: object) -> NotFound:
        return cls(f"{kind} {ident} not found")


class Unauthorized(BerrysError):
    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str = "Not authenticated", **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["WWW-Authenticate"] = "Bearer"


class Forbidden(BerrysError):
    status = 403
    title = "Forbidden"


class PolicyDenied(Forbidden):
    title = "Denied by policy"


class Conflict(BerrysError):
    status = 409
    title = "Conflict"


class InvalidTransition(Conflict):
    title = "Invalid state transition"

    def __init__(self, entity: str, current: str, requested: str, allowed: Iterable[str]) -> None:
        allowed = sorted(allowed)
        listed = ", ".join(allowed) if allowed else "none (terminal state)"
        super().__init__(
            f"{entity} cannot move from {current} to {requested}; allowed next states: {listed}",
            current=current,
            requested=requested,
            allowed=allowed,
        )


class Unprocessable(BerrysError):
    status = 422
    title = "Unprocessable content"


class BudgetExceeded(BerrysError):
    status = 402
    title = "Budget exceeded"


class TooManyRequests(BerrysError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_seconds: int, **extra: Any) -> None:
        super().__init__(detail, retry_after_seconds=retry_after_seconds, **extra)
        self.headers["Retry-After"] = str(retry_after_seconds)


class PayloadTooLarge(BerrysError):
    status = 413
    title = "Payload too large"


class ServiceUnavailable(BerrysError):
    status = 503
    title = "Service unavailable"


DATABASE_RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(ServiceUnavailable):
    """The database server cannot be reached: down, restarting, or the network between."""

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(
            detail
            or "The database cannot be reached (it may be restarting): try again in a few "
            "seconds. Nothing of this request was saved.",
            **extra,
        )
        self.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)


class DiskFull(ServiceUnavailable):
    """The disk under the database or the workspace is full."""

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(
            detail
            or "The disk is full, so nothing was saved: free space on the server (or give "
            "the database more room) and try again.",
            **extra,
        )


# PostgreSQL: the connection failed (class 08), the server is shutting down, crashed or is
# starting up (57P01-57P03); 53100 is its disk full.
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
_DISK_FULL_SQLSTATE = "53100"
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """``exc`` and what caused it (a DBAPI error's driver exception included)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database server could not be reached (a restart, an outage),
    as opposed to a statement that failed on a live server."""
    for error in _chain(exc):
        if isinstance(error, DatabaseUnavailable):
            return True
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNREACHABLE_SQLSTATES):
            return True
    return False


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for want of disk space."""
    for error in _chain(exc):
        if isinstance(error, sqlite3.Error) and error.sqlite_errorcode == sqlite3.SQLITE_FULL:
            return True
        if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
            return True
        if getattr(error, "sqlstate", None) == _DISK_FULL_SQLSTATE:
            return True
    return False


def outage_of(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 that an infrastructure failure amounts to (a full disk, an unreachable
    database), or None when ``exc`` is something else (a bug: 500)."""
    if disk_full(exc):
        return DiskFull()
    if database_unreachable(exc):
        return DatabaseUnavailable()
    return None


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://berrys.dev/problems/{status}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _describe_validation_error(error: dict[str, Any]) -> dict[str, Any]:
    location = [str(part) for part in error.get("loc", ())]
    entry: dict[str, Any] = {
        "loc": location,
        "msg": error.get("msg", "invalid"),
        "type": error.get("type"),
    }
    expected = (error.get("ctx") or {}).get("expected")
    if expected:  # pydantic phrases enum choices as "'A', 'B' or 'C'"
        entry["allowed"] = re.findall(r"'([^']*)'", expected) or expected
    return entry


async def _on_berrys_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BerrysError)
    return problem_response(
        exc.status,
        exc.title,
        exc.detail,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extra,
    )


async def _on_infrastructure_error(request: Request, exc: Exception) -> JSONResponse:
    """A database or file error: 503 when the disk is full or the database unreachable
    (nothing was written: the unit of work rolled back), anything else stays a 500."""
    outage = outage_of(exc)
    if outage is None:
        raise exc
    _log.warning("http.outage", path=request.url.path, error=repr(exc), detail=outage.detail)
    return await _on_berrys_error(request, outage)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_describe_validation_error(error) for error in exc.errors()]
    if any(error["type"] == "json_invalid" for error in errors):
        detail = "Malformed JSON body: " + "; ".join(e["msg"] for e in errors)
    else:
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
    return problem_response(
        422, "Request validation failed", detail, instance=request.url.path, errors=errors
    )


def _malformed_body(exc: StarletteHTTPException) -> tuple[str, str] | None:
    """A body FastAPI or Starlette could not parse, which they answer with a bare 400: JSON
    that is not UTF-8, a multipart form without its boundary... It is malformed input like
    any other, a 422 that says what is wrong: (the kind of body, what is wrong with it)."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, UnicodeDecodeError):
        return "JSON", f"not UTF-8 text ({cause.reason} at byte {cause.start})"
    if isinstance(cause, MultiPartException):
        return "form", cause.message
    return None


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    malformed = _malformed_body(exc)
    if malformed is not None:
        kind, message = malformed
        return problem_response(
            422,
            "Request validation failed",
            f"Malformed {kind} body: {message}",
            instance=request.url.path,
            errors=[{"loc": ["body"], "msg": message, "type": f"{kind.lower()}_invalid"}],
        )
    title = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}.get(
        exc.status_code, "HTTP error"
    )
    return problem_response(
        exc.status_code,
        title,
        str(exc.detail),
        instance=request.url.path,
        headers=dict(exc.headers or {}),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BerrysError, _on_berrys_error)
    app.add_exception_handler(DBAPIError, _on_infrastructure_error)
    app.add_exception_handler(OSError, _on_infrastructure_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
