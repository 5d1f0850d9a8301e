"""The alert loop a server or worker process runs: evaluate the due rules, then send the due
notifications, every few seconds until stopped. Its owner (the app's lifespan, the worker
command) starts and stops it; nothing of it is global."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from berrys.config import Settings
from berrys.core.db import Database
from berrys.core.encryption import SecretBox
from berrys.services.alerts._delivery import deliver_due
from berrys.services.alerts._evaluation import evaluate_due

_log = structlog.get_logger("berrys.alerts")
# Retries fall due between evaluations: look at least this often.
MAX_TICK_SECONDS = 5.0


class AlertLoop:
    """Evaluates rules and delivers notifications in the background of one process."""

    def __init__(self, database: Database, box: SecretBox, settings: Settings) -> None:
        self.database = database
        self.box = box
        self.settings = settings
        self.tick_seconds = min(settings.alerts_evaluation_seconds, MAX_TICK_SECONDS)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> AlertLoop:
        self._task = asyncio.create_task(self._run(), name="berrys-alerts")
        return self

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def tick(self) -> None:
        """One pass: the due rules, then the due notifications."""
        await evaluate_due(self.database, interval_seconds=self.settings.alerts_evaluation_seconds)
        await deliver_due(self.database, self.box, self.settings)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception as exc:  # a failed pass (the database away) must not end the loop
                _log.warning("alerts.pass_failed", error=str(exc), error_type=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.tick_seconds)
