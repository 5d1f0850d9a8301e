"""The dashboard: server-rendered Jinja2 pages with HTMX, chat streamed over SSE.

:func:`install` mounts the pages and the vendored static files, and renders errors of page
routes as HTML (the API keeps problem+json).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from berrys.core.errors import BerrysError
from berrys.web import (
    alerts,
    artifacts,
    audit,
    chat,
    docs,
    models,
    pages,
    project_edits,
    projects,
    publishing,
    runs,
    tools,
)
from berrys.web.security import CSRF_FAILED, CsrfFailed, LoginRequired, login_url
from berrys.web.templating import HERE, render


def _is_page(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith("/api/") or path.startswith("/health") or path == "/metrics")


_Handler = Callable[[Request, Exception], Awaitable[Response]]


def _api_handler(app: FastAPI, kind: type[Exception]) -> _Handler:
    """The API's handler of ``kind``: berrys.core.errors installs coroutine functions (the
    app types its handlers as possibly synchronous)."""
    return cast(_Handler, app.exception_handlers[kind])


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    docs.install(app)
    for router in (
        pages.router,
        projects.router,
        project_edits.router,
        publishing.router,
        artifacts.router,
        chat.router,
        runs.router,
        alerts.router,
        audit.router,
        tools.router,
        models.router,
    ):
        app.include_router(router)
    _install_error_pages(app)


def _install_error_pages(app: FastAPI) -> None:
    """Errors of page routes as HTML pages; the API's handlers keep answering the rest."""
    api_handler = _api_handler(app, BerrysError)
    api_validation = _api_handler(app, RequestValidationError)
    api_http = _api_handler(app, StarletteHTTPException)

    async def on_berrys_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request) or not isinstance(exc, BerrysError):
            return await api_handler(request, exc)
        return render(
            request,
            "error.html",
            status_code=exc.status,
            title=exc.title,
            detail=exc.detail,
        )

    async def on_bad_request(request: Request, exc: Exception) -> Response:
        if not _is_page(request) or request.url.path.startswith("/static/"):
            return await api_validation(request, exc)
        return render(
            request,
            "error.html",
            status_code=422,
            title="Not understood",
            detail="That address or form has a value Berrys cannot use.",
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request) or request.url.path.startswith("/static/"):
            return await api_http(request, exc)
        assert isinstance(exc, StarletteHTTPException)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        return render(request, "error.html", status_code=exc.status_code, title=title, detail=title)

    app.add_exception_handler(LoginRequired, _on_login_required)
    app.add_exception_handler(RequestValidationError, on_bad_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(CsrfFailed, _on_csrf_failed)
    app.add_exception_handler(BerrysError, on_berrys_error)


async def _on_login_required(request: Request, exc: Exception) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": login_url(request)})
    return RedirectResponse(login_url(request), status_code=303)


async def _on_csrf_failed(request: Request, exc: Exception) -> Response:
    if "text/event-stream" in request.headers.get("accept", "") or request.headers.get(
        "hx-request"
    ):
        return Response(CSRF_FAILED, status_code=403, media_type="text/plain")
    return render(
        request,
        "error.html",
        status_code=403,
        title="Forbidden",
        detail=f"{CSRF_FAILED}. Reload the page and try again.",
    )
