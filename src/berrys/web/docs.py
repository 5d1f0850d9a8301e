"""The API docs (/docs: Swagger UI, /redoc: ReDoc) from bundled assets, never a CDN.

The bundles come from the ``fastapi-offline`` package (Swagger UI 5 and ReDoc 2, shipped in
its wheel; only its static files are used) and are served from ``/docs/assets``. FastAPI's
own page builders write the pages; the one inline start-up script of each page is allowed
by its sha256 hash in the page's Content-Security-Policy, so scripts stay ``'self'``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs/assets"
DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
REDOC_URL = "/redoc"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def policy(html: str, *, styles_inline: bool = False, worker_blob: bool = False) -> str:
    """The page's CSP: this origin only, plus the hashes of the page's own inline scripts."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    script = f"script-src 'self' {hashes}".rstrip()
    # ReDoc's styled components write <style> elements; Swagger UI needs none.
    style = "style-src 'self' 'unsafe-inline'" if styles_inline else "style-src 'self'"
    worker = "worker-src 'self' blob:" if worker_blob else "worker-src 'self'"
    return (
        f"default-src 'self'; {script}; {style}; img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self'; {worker}; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _page(response: HTMLResponse, **options: bool) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = policy(bytes(response.body).decode(), **options)
    response.headers["Cache-Control"] = "no-store"
    return response


def install(app: FastAPI) -> None:
    """Serve the docs pages and their assets (create the app with ``docs_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_swagger_ui_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} API",
                oauth2_redirect_url=OAUTH2_REDIRECT_URL,
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _page(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_redoc_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} API",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            ),
            styles_inline=True,
            worker_blob=True,
        )
