"""The application's wiring: one ``Services`` object built from ``Settings`` and handed to
whatever needs a shared part (the database, the model runtime, the embedder, the tool
invoker and its MCP sessions, background work, the run event listener), instead of
process globals each configured by whoever came last.

It joins parts of several services (llm, tools, and the pipeline's approval of tool calls),
so it sits above every service: no service imports it. ``create_app`` keeps one on
``app.state.services`` (routes reach its parts through ``llm.deps`` and ``tools.deps``);
a CLI command that needs more than the database builds its own (``cli.common``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from berrys.config import Settings
from berrys.core import tracing
from berrys.core.background import Background
from berrys.core.db import Database
from berrys.core.errors import Unprocessable
from berrys.services.alerts import service as alerts
from berrys.services.llm import service as llm
from berrys.services.pipeline import service as pipeline
from berrys.services.publishing import service as publishing
from berrys.services.runs import service as runs
from berrys.services.tools import service as tools
from berrys.services.triggers import service as triggers

_log = structlog.get_logger("berrys.wiring")


@dataclass(frozen=True, slots=True)
class Services:
    """What one application (a server process, a CLI command, a test) shares."""

    settings: Settings
    database: Database
    models: llm.Runtime
    # Semantic ranking in search and tool discovery; None: they rank by words alone.
    embedder: llm.Embedder | None
    tools: tools.ToolInvoker
    # Work a request starts to outlive it (a chat reply whose client went away).
    background: Background
    # Wakes the process's SSE streams of a run when its events are committed (any process).
    run_events: runs.RunEventListener

    @classmethod
    def build(cls, settings: Settings, *, database: Database | None = None) -> Services:
        """Everything from ``settings``; ``database`` when the caller already opened it.
        Traces are recorded when the ``OTEL_*`` variables ask (once per process)."""
        tracing.configure()
        database = database or Database(settings.resolved_database_url)
        models = llm.build_runtime(settings, database)
        invoker = tools.ToolInvoker(
            database, settings, approve=pipeline.tool_call_approval(database)
        )
        embedder = _default_embedder(models)
        listener = runs.RunEventListener(database)
        return cls(settings, database, models, embedder, invoker, Background(), listener)

    async def start(self) -> None:
        """What a server process runs beside its requests: the run event listener."""
        await self.run_events.start()

    def start_worker(self, executor: runs.TaskExecutor | None = None) -> pipeline.BackgroundWorker:
        """A worker of the run engine as a task of the running event loop (``executor``: the
        default one, which carries tasks out with these models and tools)."""
        executor = executor or pipeline.default_executor(
            self.settings, self.database, models=self.models, tools=self.tools
        )
        return pipeline.BackgroundWorker(
            self.database, executor, config=pipeline.engine_config(self.settings)
        ).start()

    def alert_loop(self) -> alerts.AlertLoop | None:
        """The alert evaluator for a server or worker process (None when it is off); its
        owner starts it and stops it."""
        if not self.settings.alerts_evaluator:
            return None
        return alerts.AlertLoop(self.database, self.models.secrets, self.settings)

    def trigger_loop(self) -> triggers.TriggerLoop | None:
        """The schedules and run webhooks of a server or worker process (None when off);
        its owner starts and stops it."""
        if not self.settings.triggers_loop:
            return None
        return triggers.TriggerLoop(self.database, self.models, self.models.secrets, self.settings)

    def publish_loop(self) -> publishing.PublishLoop | None:
        """Approved publications carried out and their webhooks delivered by a server or
        worker process (None when off); its owner starts and stops it."""
        if not self.settings.publish_loop:
            return None
        return publishing.PublishLoop(self.database, self.models.secrets, self.settings)

    async def aclose(self) -> None:
        """Close the parts (``close_parts``), then the database's connections; send the
        spans still buffered."""
        await self.close_parts()
        await self.database.dispose()
        if tracing.enabled():  # the exporter may wait on its collector: not in the loop
            await asyncio.to_thread(tracing.flush)

    async def close_parts(self) -> None:
        """Stop the background work and the run event listener, close the model providers
        and the MCP sessions; the database stays open (a test's is the whole session's)."""
        await self.background.aclose()
        await self.run_events.stop()
        await self.models.aclose()
        await self.tools.aclose()


def _default_embedder(models: llm.Runtime) -> llm.Embedder | None:
    try:
        return llm.embedder(models)
    except Unprocessable as exc:  # a misconfigured embedder must not stop the application
        _log.warning("embedder.unavailable", detail=exc.detail)
        return None
