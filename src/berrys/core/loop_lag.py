"""Event-loop lag on /metrics: how late a periodic tick wakes up.

While one callback runs on a server process's event loop, nothing else there does: its
requests, SSE streams and run tasks all wait. A tick that asks to wake every ``interval``
and measures how late it woke sees that wait directly, whatever caused it (a slow
statement run in the loop's thread, CPU-heavy Python, a blocking call), at the cost of one
timer per interval.

Every series carries the process id: ``berrys serve --workers N`` runs N processes, each
answering /metrics for itself, so one process's numbers are never mistaken for another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

BUCKETS = (
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class LoopLag:
    """A tick on the running loop, and a Prometheus collector of how late it woke."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pid = str(os.getpid())
        self._counts = [0] * (len(BUCKETS) + 1)  # the last one: above every bucket
        self._sum = 0.0
        self._max_since_scrape = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._tick(), name="berrys-loop-lag")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self._observe(max(0.0, loop.time() - due))

    def _observe(self, lag: float) -> None:
        self._counts[bisect_left(BUCKETS, lag)] += 1
        self._sum += lag
        self._max_since_scrape = max(self._max_since_scrape, lag)

    def describe(self) -> Iterator[Metric]:
        """The metric names, for the registry (without resetting the maximum)."""
        yield HistogramMetricFamily("berrys_event_loop_lag_seconds", "", labels=["pid"])
        yield GaugeMetricFamily("berrys_event_loop_lag_max_seconds", "", labels=["pid"])

    def collect(self) -> Iterator[Metric]:
        cumulative = list(accumulate(self._counts))
        histogram = HistogramMetricFamily(
            "berrys_event_loop_lag_seconds",
            f"How late a tick asking to wake every {self.interval:g} s woke: the time the "
            "process's event loop was busy with something else.",
            labels=["pid"],
        )
        histogram.add_metric(
            [self._pid],
            buckets=list(zip([*map(str, BUCKETS), "+Inf"], cumulative, strict=True)),
            sum_value=self._sum,
        )
        yield histogram
        # As Node's prom-client does for its loop lag: a maximum since the previous scrape
        # says what the last interval saw, not a start-up stall from hours ago.
        largest = GaugeMetricFamily(
            "berrys_event_loop_lag_max_seconds",
            "The largest event-loop lag since the previous scrape of this process.",
            labels=["pid"],
        )
        largest.add_metric([self._pid], self._max_since_scrape)
        self._max_since_scrape = 0.0
        yield largest
