"""Running workers: the embedded one inside ``berrys serve`` and ``berrys worker``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.runs.engine.executor import TaskExecutor
from berrys.services.runs.engine.worker import EngineConfig, Worker

_log = structlog.get_logger("berrys.worker")


def default_executor(settings: Settings, database: Database) -> TaskExecutor:
    """The executor that runs a task by its agent (models, tools, artifacts, review)."""
    from berrys.services.pipeline.executor import AgentExecutor

    return AgentExecutor(settings=settings, database=database)


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        concurrency=settings.worker_concurrency,
        lease_seconds=settings.worker_lease_seconds,
        heartbeat_seconds=max(0.5, settings.worker_lease_seconds / 4),
    )


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
        self.worker = Worker(database, executor, config=config, **kwargs)
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


def install_tool_approval_hook(database: Database) -> None:
    """Connect the tools service's approval hook to human-in-the-loop.

    Inside a run the executor asks first (the task waits, AWAITING_INPUT) and marks the call
    approved. Outside a run (a person invoking a tool) the first call creates an APPROVAL and
    is refused with its id; once approved, the same call (same arguments) runs once.
    """
    from berrys.core.enums import ApprovalSubject, HumanInteractionType, Priority
    from berrys.services.interactions import service as interactions
    from berrys.services.pipeline.executor import tool_call_approved
    from berrys.services.tools import invocation

    async def hook(request: invocation.ApprovalRequest) -> None:
        if tool_call_approved.get():
            return
        if request.project_id is None:
            await invocation.require_human_approval(request)
            return
        async with database.transaction() as session:
            state, interaction_id = await interactions.take_tool_approval(
                session,
                project_id=request.project_id,
                tool_id=request.tool_id,
                arguments_hash=request.arguments_hash,
            )
            if state == "approved":
                return
            if state == "none":
                created = await interactions.create(
                    session,
                    type=HumanInteractionType.APPROVAL,
                    project_id=request.project_id,
                    title=f"Allow tool {request.tool_name!r} to run?",
                    prompt=str(request.arguments)[:4000],
                    priority=Priority.HIGH,
                    details={
                        "subject": ApprovalSubject.TOOL_CALL,
                        "tool_id": str(request.tool_id),
                        "tool": request.tool_name,
                        "arguments": request.arguments,
                        "arguments_hash": request.arguments_hash,
                    },
                    actor_id=request.user_id,
                )
                interaction_id = created.id
        raise invocation.ApprovalRequired(
            f"Tool {request.tool_name!r} requires approval: answer interaction "
            f"{interaction_id} and call it again",
            interaction_id=str(interaction_id),
            tool=request.tool_name,
        )

    invocation.set_approval_hook(hook)


def local_worker_is_dead(worker_id: str) -> bool:
    """Whether ``worker_id`` (host:pid:tag) names a process of this machine that is gone."""
    import os
    import socket

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
