"""The application factory: every service router, /health, /metrics, one middleware; the
app's ``Services`` (``berrys.wiring``) on ``app.state.services``."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from berrys import __version__
from berrys.a2a_server.http import routes as a2a_routes
from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.core.errors import ServiceUnavailable, install_error_handlers, problem_response
from berrys.core.logging import configure_logging
from berrys.core.loop_lag import LoopLag
from berrys.core.middleware import DOCS_PATHS, HttpMetrics, RequestMiddleware
from berrys.core.openapi import document_problems
from berrys.mcp_server.http import McpEndpoint
from berrys.mcp_server.http import route as mcp_route
from berrys.services.agents.api import router as agents_router
from berrys.services.alerts import service as alerts
from berrys.services.alerts.api import router as alerts_router
from berrys.services.audit.api import router as audit_router
from berrys.services.auth.api import router as auth_router
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.api import project_router as project_profile_router
from berrys.services.catalogue.api import router as catalogue_router
from berrys.services.chat.api import router as chat_router
from berrys.services.interactions.api import router as interactions_router
from berrys.services.llm.api import router as models_router
from berrys.services.pipeline import service as pipeline
from berrys.services.planning.api import project_router as project_plans_router
from berrys.services.planning.api import router as plans_router
from berrys.services.projects.api import router as projects_router
from berrys.services.publishing.api import router as publishing_router
from berrys.services.runs.api import (
    agui_router,
    artifacts_router,
    project_runs_router,
    reviews_router,
    workers_router,
)
from berrys.services.runs.api import router as runs_router
from berrys.services.runs.engine import metrics as run_metrics
from berrys.services.runs.engine.backlog import Backlog
from berrys.services.search.api import router as search_router
from berrys.services.tools.api import agent_tools_router
from berrys.services.tools.api import router as tools_router
from berrys.services.tools.api import servers_router as mcp_servers_router
from berrys.services.triggers.api import router as triggers_router
from berrys.web import install as install_web
from berrys.wiring import Services

_log = structlog.get_logger("berrys.app")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services
    if not await migrate.is_up_to_date(services.database):
        raise ServiceUnavailable(
            "The database schema is not up to date; run `berrys db upgrade` and start again."
        )
    await services.start()
    _log.info("berrys.started", version=__version__)
    loop_lag: LoopLag | None = app.state.loop_lag
    if loop_lag is not None:
        loop_lag.start()
    embedded = _start_embedded_worker(app)
    alert_loop = services.alert_loop()
    if alert_loop is not None:
        alert_loop.start()
    trigger_loop = services.trigger_loop()
    if trigger_loop is not None:
        trigger_loop.start()
    publish_loop = services.publish_loop()
    if publish_loop is not None:
        publish_loop.start()
    own_process = getattr(app.state, "own_process", False)
    if own_process:
        _tune_garbage_collection()
    # Ready for the first description without making the server wait to start.
    preparing = asyncio.create_task(_prepare_catalogue(services, freeze_after=own_process))
    mcp: McpEndpoint = app.state.mcp
    try:
        async with mcp.running():
            yield
    finally:
        preparing.cancel()
        if embedded is not None:
            await embedded.stop()
        if alert_loop is not None:
            await alert_loop.stop()
        if trigger_loop is not None:
            await trigger_loop.stop()
        if publish_loop is not None:
            await publish_loop.stop()
        if loop_lag is not None:
            await loop_lag.stop()
        await services.aclose()


async def _prepare_catalogue(services: Services, *, freeze_after: bool) -> None:
    try:
        await catalogue.prepare(services.models)
        _log.info("catalogue.prepared")
    except Exception as exc:  # the first description will load it and say what is wrong
        _log.warning("catalogue.prepare_failed", error=str(exc))
    if freeze_after:
        # The catalogue and its vectors live as long as the process too. No collection
        # first: it would stall requests already being served; a few garbage cycles frozen
        # with them are a one-off.
        gc.freeze()


def _tune_garbage_collection() -> None:
    """Short pauses of the cycle collector in a server process of its own.

    A full collection walks every tracked object while the event loop waits: with the
    start-up heap (modules, classes, the app) that took 150-200 ms of CPU, 10 times a minute
    per process under load, the loop's longest stalls. What exists at start-up lives as long
    as the process: frozen, it is no longer walked. A young generation of 20,000 objects
    (700 by default) lets a request's short-lived objects die before a collection promotes
    them, and promoted objects are what start full collections.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def create_served_app() -> FastAPI:
    """The app as ``berrys serve`` runs it, one per server process: the process is its
    own, so the app also tunes its garbage collector once started."""
    app = create_app()
    app.state.own_process = True
    return app


def _start_embedded_worker(app: FastAPI) -> pipeline.BackgroundWorker | None:
    """The run engine's embedded worker (``app.state.run_executor`` overrides the executor)."""
    services: Services = app.state.services
    if not services.settings.worker_embedded:
        return None
    return services.start_worker(getattr(app.state, "run_executor", None))


# Every REST router, in the order their routes are tried.
_ROUTERS = (
    auth_router,
    projects_router,
    project_profile_router,
    catalogue_router,
    agents_router,
    audit_router,
    tools_router,
    mcp_servers_router,
    agent_tools_router,
    project_plans_router,
    plans_router,
    chat_router,
    project_runs_router,
    triggers_router,
    publishing_router,
    runs_router,
    reviews_router,
    artifacts_router,
    workers_router,
    agui_router,
    interactions_router,
    models_router,
    search_router,
    alerts_router,
)


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(
        title="Berrys",
        version=__version__,
        summary="Open, self-hostable multi-agent platform.",
        lifespan=_lifespan,
        # Served from bundled assets by berrys.web.docs, not FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = Services.build(settings, database=database)
    metrics = HttpMetrics()
    app.state.metrics = metrics
    run_metrics.register(metrics.registry)
    app.state.backlog = Backlog()
    metrics.registry.register(app.state.backlog)
    app.state.alerts_gauge = alerts.FiringGauge(metrics.registry)
    app.state.loop_lag = None
    if settings.loop_lag_interval_seconds:
        app.state.loop_lag = LoopLag(settings.loop_lag_interval_seconds)
        metrics.registry.register(app.state.loop_lag)

    install_error_handlers(app)
    # Health first: probes hit it often, and Starlette tries routes in order.
    _add_health_routes(app, metrics)
    for router in _ROUTERS:
        app.include_router(router)
    _mount_mcp(app)
    # A2A clients fetch the card and reach the same services at /a2a as their token's user.
    app.router.routes.extend(a2a_routes(lambda: app.state.services))
    install_web(app)
    document_problems(app)
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=metrics,
        docs_paths=DOCS_PATHS,
    )
    return app


async def _refresh_database_gauges(app: FastAPI) -> None:
    """The gauges counted from the database, before a scrape."""
    database = app.state.services.database
    for name, gauge in (("backlog", app.state.backlog), ("alerts", app.state.alerts_gauge)):
        try:
            await gauge.refresh(database)
        except Exception as exc:  # the other metrics still answer while the database is away
            _log.warning("metrics.gauge_unavailable", gauge=name, error=str(exc))


def _mount_mcp(app: FastAPI) -> None:
    """MCP clients reach the same services at /mcp, as the user of their bearer token (the
    session manager runs in ``_lifespan``)."""
    app.state.mcp = McpEndpoint(lambda: app.state.services)
    app.router.routes.append(mcp_route(app.state.mcp))


def _add_health_routes(app: FastAPI, metrics: HttpMetrics) -> None:
    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "healthy", "service": "berrys", "version": __version__}

    @app.get("/health/ready", tags=["health"], responses={503: {"description": "A check failed"}})
    async def ready() -> Any:
        """Readiness: every configured dependency answers a real query."""
        checks: dict[str, dict[str, str]] = {}
        database: Database = app.state.services.database
        try:
            async with database.transaction(read_only=True) as session:
                await session.execute(text("SELECT 1"))
            current = await migrate.current_revisions(database)
            checks["database"] = (
                {"status": "ok"}
                if current == migrate.head_revisions()
                else {"status": "failing", "detail": "schema not migrated; run `berrys db upgrade`"}
            )
        except Exception as exc:
            checks["database"] = {"status": "failing", "detail": type(exc).__name__}
        failing = [name for name, check in checks.items() if check["status"] != "ok"]
        if failing:
            return problem_response(
                503,
                "Not ready",
                f"Failing checks: {', '.join(failing)}",
                checks=checks,
            )
        return JSONResponse({"status": "ready", "checks": checks})

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def prometheus() -> Response:
        """Prometheus exposition: request counts and latency by route and status, run
        events, event-loop lag, the work queue's depth, runs by status, firing alerts by
        kind."""
        await _refresh_database_gauges(app)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
