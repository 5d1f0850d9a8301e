"""Running workers: the embedded one inside ``berrys serve`` and ``berrys worker``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

import structlog

from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.llm import service as llm
from berrys.services.pipeline._executor import AgentExecutor
from berrys.services.runs import service as runs
from berrys.services.runs.service import EngineConfig, TaskExecutor, Worker
from berrys.services.tools.service import ToolInvoker

_log = structlog.get_logger("berrys.worker")


def default_executor(
    settings: Settings, database: Database, *, models: llm.Runtime, tools: ToolInvoker
) -> TaskExecutor:
    """The executor that runs a task by its agent (models, tools, artifacts, review)."""
    return AgentExecutor(settings=settings, database=database, models=models, tools=tools)


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        concurrency=settings.worker_concurrency,
        lease_seconds=settings.worker_lease_seconds,
        heartbeat_seconds=max(0.5, settings.worker_lease_seconds / 4),
    )


def build_worker(
    database: Database, executor: TaskExecutor, *, config: EngineConfig | None = None, **kwargs: Any
) -> Worker:
    """A worker of the run engine, given the run service's hooks (audit entries, the
    project following its run, approvals) and ``executor`` to carry out tasks."""
    return Worker(database, executor, hooks=runs.HOOKS, config=config, **kwargs)


class BackgroundWorker:
    """A worker running as a task of the current event loop."""

    def __init__(
        self,
        database: Database,
        executor: TaskExecutor,
        *,
        config: EngineConfig | None = None,
        **kwargs: Any,
    ) -> None:
        self.worker = build_worker(database, executor, config=config, **kwargs)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> BackgroundWorker:
        self._task = asyncio.create_task(self.worker.run(), name="berrys-worker")
        _log.info("worker.started", worker=self.worker.worker_id)
        return self

    async def stop(self, grace: float = 10.0) -> None:
        if self._task is None:
            return
        self.worker.stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self._task, grace)
        _log.info("worker.stopped", worker=self.worker.worker_id)
        self._task = None


def local_worker_is_dead(worker_id: str) -> bool:
    """Whether ``worker_id`` (host:pid:tag) names a process of this machine that is gone."""
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
