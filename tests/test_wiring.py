"""The application's wiring: each app (a server process, a command, a test) has its own
``Services``; what one builds or chooses never changes another's."""

from __future__ import annotations

import asyncio

import pytest

from berrys.app import create_app
from berrys.config import Settings
from berrys.core.db import Database
from berrys.core.errors import ServiceUnavailable
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import ChatMessage, CompletionRequest
from berrys.services.tools import service as tools
from berrys.services.tools.contracts import ApprovalPolicy, ToolUpdate
from berrys.wiring import Services


async def test_each_app_serves_with_the_parts_built_from_its_own_settings(
    settings: Settings, database: Database
) -> None:
    patient = settings.model_copy(update={"llm_cooldown_seconds": 99.0})
    first = create_app(settings, database=database).state.services
    second = create_app(patient, database=database).state.services
    # The second app's runtime does not replace the first's (it used to: one per process).
    assert first.models.settings.llm_cooldown_seconds == settings.llm_cooldown_seconds
    assert second.models.settings.llm_cooldown_seconds == 99.0
    assert first.tools is not second.tools
    assert first.tools.database is first.database
    await first.close_parts()
    await second.close_parts()


async def test_a_tool_invoker_applies_its_own_approval_policy(
    settings: Settings, database: Database
) -> None:
    async with database.transaction() as session:
        await tools.ensure_builtin_tools(session)
        math = await tools.get_by_name(session, name="math.evaluate")
        assert math is not None
        await tools.update(
            session,
            tool_id=math.id,
            tool_in=ToolUpdate(approval_policy=ApprovalPolicy.REQUIRES_APPROVAL),
            user=None,
        )
    asked: list[str] = []

    async def approve_every_call(request: tools.ApprovalRequest) -> None:
        asked.append(request.tool_name)

    allowing = tools.ToolInvoker(database, settings, approve=approve_every_call)
    refusing = tools.ToolInvoker(database, settings)  # no human-in-the-loop policy given
    call = {"tool_id": math.id, "arguments": {"expression": "6 * 7"}, "user": None}
    assert (await allowing.invoke(**call)).output == {"expression": "6 * 7", "value": 42}
    with pytest.raises(tools.ApprovalRequired):
        await refusing.invoke(**call)
    assert (await allowing.invoke(**call)).output["value"] == 42
    assert asked == ["math.evaluate", "math.evaluate"]


async def test_scripts_belong_to_the_runtime_they_were_installed_on(
    settings: Settings, database: Database
) -> None:
    first, second = (
        Services.build(settings, database=database),
        Services.build(settings, database=database),
    )
    ask = CompletionRequest(messages=[ChatMessage(role="user", content="Hello?")])
    with llm.script(first.models, "only-first", ["from the first"]):
        answered = await llm.complete(first.models, database, ask)
        assert (answered.model, answered.content) == ("only-first", "from the first")
        with pytest.raises(ServiceUnavailable):  # no script, no model: the second has none
            await llm.complete(second.models, database, ask)
    await first.close_parts()
    await second.close_parts()


async def test_closing_the_services_stops_their_background_work(
    settings: Settings, database: Database
) -> None:
    services = Services.build(settings, database=database)
    never_set = asyncio.Event()
    work = services.background.start(never_set.wait())
    assert len(services.background) == 1
    await services.close_parts()
    assert work.cancelled()
    assert len(services.background) == 0


def test_each_event_loop_has_its_own_write_queue(database: Database) -> None:
    async def queue_twice() -> tuple[asyncio.Lock, asyncio.Lock]:
        return database.write_queue(), database.write_queue()

    first_a, first_b = asyncio.run(queue_twice())
    second, _ = asyncio.run(queue_twice())
    assert first_a is first_b  # one queue per loop: the loop's writers wait on the same one
    assert second is not first_a  # an asyncio lock is bound to the loop that uses it
