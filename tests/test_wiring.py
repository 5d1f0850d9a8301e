"""The application's wiring: each app (a server process, a command, a test) has its own
``Services``; what one builds or chooses never changes another's."""

from __future__ import annotations

import pytest

from berrys.app import create_app
from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.tools import service as tools
from berrys.services.tools.contracts import ApprovalPolicy, ToolUpdate


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
