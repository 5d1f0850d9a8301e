"""The alert loop a server or worker process runs: evaluate the due rules, then send the due
notifications, every few seconds until stopped (``core.periodic`` runs it)."""

from __future__ import annotations

from berrys.config import Settings
from berrys.core.db import Database
from berrys.core.encryption import SecretBox
from berrys.core.periodic import PeriodicLoop
from berrys.services.alerts._delivery import deliver_due
from berrys.services.alerts._evaluation import evaluate_due

# Retries fall due between evaluations: look at least this often.
MAX_TICK_SECONDS = 5.0


class AlertLoop(PeriodicLoop):
    """Evaluates rules and delivers notifications in the background of one process."""

    name = "berrys-alerts"

    def __init__(self, database: Database, box: SecretBox, settings: Settings) -> None:
        super().__init__(min(settings.alerts_evaluation_seconds, MAX_TICK_SECONDS))
        self.database = database
        self.box = box
        self.settings = settings

    async def tick(self) -> None:
        """One pass: the due rules, then the due notifications."""
        await evaluate_due(self.database, interval_seconds=self.settings.alerts_evaluation_seconds)
        await deliver_due(self.database, self.box, self.settings)
