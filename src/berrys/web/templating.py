"""Jinja2 templates with what every page needs: the user, the CSRF token, security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from berrys import __version__
from berrys.core.middleware import CSP
from berrys.web.security import csrf_token, remember_csrf_cookie

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["version"] = __version__
HTMX = "vendor/htmx.org-2.0.8/htmx.min.js"
templates.env.globals["htmx_path"] = HTMX
HTMX_SSE = "vendor/htmx-ext-sse-2.2.4/sse.min.js"
templates.env.globals["htmx_sse_path"] = HTMX_SSE

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,  # the one every response gets
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "user", None))
    context["csrf_token"] = csrf_token(request)
    context["path"] = request.url.path
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    remember_csrf_cookie(request, response)
    return response
