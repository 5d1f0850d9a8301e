"""The Prometheus gauge of firing alerts by kind, read from the database at each scrape so
that every process reports what all of them evaluated."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from berrys.core.db import Database
from berrys.services.alerts._episodes import firing_by_kind


class FiringGauge:
    """``berrys_alerts_firing{kind=...}`` in one app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauge = Gauge(
            "berrys_alerts_firing",
            "Alert episodes firing now, by rule kind.",
            ["kind"],
            registry=registry,
        )

    async def refresh(self, database: Database) -> None:
        async with database.transaction(read_only=True) as session:
            counts = await firing_by_kind(session)
        for kind, count in counts.items():
            self.gauge.labels(kind=kind.value).set(count)
