"""The one ASGI middleware around every request.

It assigns the request id (``X-Request-ID`` accepted and echoed), binds it to the log
context, enforces the body size limit (413), collects enum deprecation warnings into a
response header, says ``nosniff`` and sends a Content-Security-Policy on every response,
records Prometheus metrics by route template, and turns any unexpected exception into a
problem+json 500 (the stack trace goes to the log, never to the client).
Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task per request on the hot path.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berrys.core.enums import start_collecting_deprecations
from berrys.core.errors import problem_response

_log = structlog.get_logger("berrys.http")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# The dashboard runs on its own files only: scripts and styles from /static (no inline code,
# htmx with eval and its injected styles off), requests to this origin (fetch, SSE), never
# framed. API answers are JSON and need less; the same policy costs nothing there.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# /docs (Swagger UI) and /redoc run on bundled assets (berrys.web.docs): each page sends its
# own policy, 'self' plus the hash of its inline start-up script. This one covers the
# middleware's own answers on those paths; ReDoc styles with <style> and runs a blob worker.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")


class _BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing passes it through as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body exceeds the limit of {limit} bytes.")


class HttpMetrics:
    """Request counts and latency by method, route template and status."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "berrys_http_requests_total",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "berrys_http_request_duration_seconds",
            "HTTP request latency by method and route.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


class _Exchange:
    """One request's passage through the app: its body counted against the limit as it is
    received, and its response's status noted and headers completed as it starts."""

    __slots__ = (
        "_deprecations",
        "_limit",
        "_own",
        "_receive",
        "_received",
        "_send",
        "response_started",
        "status",
    )

    def __init__(
        self,
        receive: Receive,
        send: Send,
        limit: int,
        own: dict[str, str],
        deprecations: list[str],
    ) -> None:
        self._receive = receive
        self._send = send
        self._limit = limit
        self._own = own
        self._deprecations = deprecations
        self._received = 0
        self.status = 500
        self.response_started = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                raise _BodyTooLarge(self._limit)
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
            self.status = message["status"]
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            for name, value in self._own.items():
                if name.encode() not in present:
                    headers.append((name.encode(), value.encode()))
            if self._deprecations:
                headers.append((b"deprecation", b"true"))
                for note in dict.fromkeys(self._deprecations):
                    headers.append((b"warning", f'299 berrys "{note}"'.encode()))
            message = {**message, "headers": headers}
        await self._send(message)


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: HttpMetrics,
        docs_paths: tuple[str | None, ...] = DOCS_PATHS,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.docs_paths = frozenset(path for path in docs_paths if path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        policy = DOCS_CSP if scope["path"] in self.docs_paths else CSP
        # On every response, the middleware's own (413, 422, 500) included.
        own = {
            "x-request-id": request_id,
            "x-content-type-options": "nosniff",
            "content-security-policy": policy,
        }
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        deprecations = start_collecting_deprecations()
        started = time.perf_counter()
        if await self._refused_unread(scope, receive, send, own, started):
            return
        exchange = _Exchange(receive, send, self.max_body_bytes, own, deprecations)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except _BodyTooLarge:
            if not exchange.response_started:
                await self._too_large(scope, send, own)
            exchange.status = 413
        except Exception:
            _log.exception("http.unhandled_error", path=scope.get("path"), method=scope["method"])
            if not exchange.response_started:
                response = problem_response(
                    500,
                    "Internal server error",
                    f"An unexpected error occurred; quote request id {request_id} in a report.",
                    headers=own,
                )
                await response(scope, receive, send)
            exchange.status = 500
        finally:
            self._observe(scope, exchange.status, started)

    async def _refused_unread(
        self, scope: Scope, receive: Receive, send: Send, own: dict[str, str], started: float
    ) -> bool:
        """Answer a request refused before its body is read (NUL characters: 422, a declared
        length over the limit: 413); whether it was."""
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            response = problem_response(
                422,
                "Request validation failed",
                "NUL characters (%00) are not allowed in paths or query strings.",
                headers=own,
            )
            await response(scope, receive, send)
            self._observe(scope, 422, started)
            return True
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, send, own)
            self._observe(scope, 413, started)
            return True
        return False

    async def _too_large(self, scope: Scope, send: Send, headers: dict[str, str]) -> None:
        response = problem_response(
            413,
            "Payload too large",
            f"Request body exceeds the limit of {self.max_body_bytes} bytes.",
            headers=headers,
            limit_bytes=self.max_body_bytes,
        )
        await response(scope, _no_body, send)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "<unmatched>"
        method = scope["method"]
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _header(scope: Scope, name: bytes) -> str | None:
    key: bytes
    value: bytes
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _incoming_request_id(scope: Scope) -> str | None:
    value = _header(scope, b"x-request-id")
    return value if value and _VALID_REQUEST_ID.match(value) else None


def _declared_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
