"""On PostgreSQL a provider's concurrency limit holds across runtimes sharing the database,
as it does across processes: two runtimes (two processes' worth) never have more calls in
flight than the limit, the database shows them, and records the peak.

PostgreSQL only (``BERRYS_TEST_DATABASE_URL``); on SQLite the limit is the process's own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.conftest import TEST_DATABASE_URL
from tests.services.runs.conftest import wait_until

from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import ChatMessage, CompletionRequest, ModelTaskType

pytestmark = pytest.mark.skipif(
    not (TEST_DATABASE_URL or "").startswith("postgresql"),
    reason="limits shared through PostgreSQL: set BERRYS_TEST_DATABASE_URL",
)
LIMIT = 2
CALLS = 6


async def _loads(database: Database) -> list:
    async with database.transaction(read_only=True) as session:
        return await llm.provider_loads(session)


async def test_two_runtimes_share_one_provider_limit_through_the_database(
    llm_settings: Settings, database: Database
):
    settings = llm_settings.model_copy(update={"llm_provider_concurrency": LIMIT})
    runtimes = [llm.build_runtime(settings, database) for _ in range(2)]
    inside: list[asyncio.Event] = []  # one gate per call in flight, opened by the test
    most = 0

    async def answer(request: Any) -> str:
        nonlocal most
        gate = asyncio.Event()
        inside.append(gate)
        most = max(most, sum(not g.is_set() for g in inside))
        await gate.wait()
        return "done"

    for models in runtimes:
        llm.script(models, "shared", [answer] * CALLS)
    request = CompletionRequest(
        messages=[ChatMessage(role="user", content="hello")], task_type=ModelTaskType.GENERAL
    )
    calls = [
        asyncio.create_task(llm.complete(runtimes[n % 2], database, request)) for n in range(CALLS)
    ]
    try:
        await wait_until(lambda: len(inside) == LIMIT, message="the limit's calls in flight")
        (load,) = await _loads(database)
        assert (load.key, load.slots, load.in_flight) == ("SCRIPTED", LIMIT, LIMIT)
        for released in range(CALLS):  # one at a time: another may take the freed slot
            await wait_until(lambda r=released: len(inside) > r, message="a call in flight")
            inside[released].set()
        answers = await asyncio.wait_for(asyncio.gather(*calls), 30)
    finally:
        for models in runtimes:
            await models.aclose()
    assert [a.content for a in answers] == ["done"] * CALLS
    assert most == LIMIT
    (load,) = await _loads(database)
    assert (load.in_flight, load.peak) == (0, LIMIT)


async def test_a_freed_slot_stays_a_moment_for_the_same_process_then_goes_to_another(
    llm_settings: Settings, database: Database
):
    """A runtime keeps the slot its call freed for its next call (no transaction to take
    it again), and gives it back by itself: the other runtime's call then gets it."""
    settings = llm_settings.model_copy(update={"llm_provider_concurrency": 1})
    first, second = (llm.build_runtime(settings, database) for _ in range(2))
    for models in (first, second):
        llm.script(models, "shared", ["done"] * 3)
    request = CompletionRequest(
        messages=[ChatMessage(role="user", content="hello")], task_type=ModelTaskType.GENERAL
    )
    try:
        await llm.complete(first, database, request)
        (load,) = await _loads(database)
        assert load.in_flight == 1  # kept for the first runtime's next call
        await llm.complete(first, database, request)  # on the kept slot: the limit holds
        # The second waits until the first gives the kept slot back by itself.
        answer = await asyncio.wait_for(llm.complete(second, database, request), 10)
        assert answer.content == "done"

        async def given_back() -> bool:
            return (await _loads(database))[0].in_flight == 0

        await wait_until(given_back, message="the kept slot given back")
        (load,) = await _loads(database)
        assert load.peak == 1
    finally:
        await first.aclose()
        await second.aclose()
