"""Event-loop lag on /metrics, read from a live server (uvicorn, lifespan on, real sockets)
running in this test's event loop, so the test can hold that loop up itself."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.processes import free_port
from tests.services.runs.conftest import wait_until

from berrys.app import create_app

LAG = "berrys_event_loop_lag_seconds"
MAX = "berrys_event_loop_lag_max_seconds"


@pytest.fixture
async def live(settings, database) -> AsyncIterator[httpx.AsyncClient]:
    ticking = settings.model_copy(update={"loop_lag_interval_seconds": 0.01})
    app = create_app(ticking, database=database)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, message="server started")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield http
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def _scrape(http: httpx.AsyncClient) -> dict[str, float]:
    """Every sample of the loop-lag metrics, keyed by name and labels."""
    text = (await http.get("/metrics")).text
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for family in text_string_to_metric_families(text)
        if family.name in (LAG, MAX)
        for sample in family.samples
    }


def _key(name: str, **labels: str) -> str:
    return f"{name}{sorted({'pid': str(os.getpid()), **labels}.items())}"


def _hold_the_loop(seconds: float) -> None:
    """CPU-bound work on the event loop's thread, as a blocking call in a handler would be."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


async def test_metrics_show_how_long_the_event_loop_was_held(live) -> None:
    ticks = _key(f"{LAG}_count")

    async def ticked(at_least: float) -> dict[str, float] | None:
        samples = await _scrape(live)
        return samples if samples.get(ticks, 0) >= at_least else None

    before = await wait_until(lambda: ticked(5), message="the lag tick running")
    _hold_the_loop(0.2)
    after = await wait_until(lambda: ticked(before[ticks] + 1), message="a tick after the hold")

    assert after[_key(MAX)] >= 0.19
    held = after[_key(f"{LAG}_bucket", le="+Inf")] - after[_key(f"{LAG}_bucket", le="0.15")]
    assert held >= 1
    assert after[_key(f"{LAG}_sum")] - before[_key(f"{LAG}_sum")] >= 0.19
    # The maximum is since the previous scrape: the hold is not reported twice.
    assert (await _scrape(live))[_key(MAX)] < 0.19


async def test_no_loop_lag_metrics_when_switched_off(settings, database) -> None:
    quiet = settings.model_copy(update={"loop_lag_interval_seconds": 0})
    transport = httpx.ASGITransport(app=create_app(quiet, database=database))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    assert LAG not in metrics.text
