"""A pass repeated in the background of one process every few seconds until stopped (the
alert evaluator, the triggers' schedules and webhooks). Its owner (the app's lifespan, the
worker command) starts and stops it; a failed pass is logged and the next one runs."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod

import structlog

_log = structlog.get_logger("berrys.periodic")


class PeriodicLoop(ABC):
    """Runs ``tick`` every ``tick_seconds`` as a task of the running event loop."""

    name = "berrys-loop"

    def __init__(self, tick_seconds: float) -> None:
        self.tick_seconds = tick_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def tick(self) -> None:
        """One pass."""

    def start(self) -> PeriodicLoop:
        self._task = asyncio.create_task(self._run(), name=self.name)
        return self

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception as exc:  # a failed pass (the database away) must not end the loop
                _log.warning(
                    "periodic.pass_failed",
                    loop=self.name,
                    error=str(exc),
                    error_type=type(exc).__name__,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.tick_seconds)
