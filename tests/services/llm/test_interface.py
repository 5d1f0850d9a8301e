"""The interface other services use: complete() with SCRIPTED and RULES, and its accounting."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from sqlalchemy import select

from berrys.core.db import Database
from berrys.core.errors import ServiceUnavailable
from berrys.services.llm import _runtime
from berrys.services.llm import service as llm
from berrys.services.llm._providers.scripted import ScriptExhausted
from berrys.services.llm.contracts import (
    ChatMessage,
    CompletionRequest,
    ModelProvider,
    ModelRequestOutcome,
    ModelTaskType,
)
from berrys.services.llm.tables import ModelRequest


class Team(BaseModel):
    roles: list[str]


def _ask(**kwargs) -> CompletionRequest:  # type: ignore[no-untyped-def]
    return CompletionRequest(
        messages=[
            ChatMessage(role="system", content="You draft teams."),
            ChatMessage(role="user", content="A web shop for tea."),
        ],
        **kwargs,
    )


async def _rows(database: Database) -> list[ModelRequest]:
    async with database.transaction(read_only=True) as session:
        return list(
            await session.scalars(
                select(ModelRequest).order_by(ModelRequest.created_at, ModelRequest.attempt)
            )
        )


async def test_rules_answer_structured_task(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    result = await llm_complete(llm_runtime, database, task_type=ModelTaskType.TEAM)
    assert result.provider == ModelProvider.RULES
    assert result.from_rules
    assert result.parsed == Team(roles=["developer", "designer"])
    assert "TEAM" in result.reason
    rows = await _rows(database)
    assert [(r.provider, r.outcome, r.task_type) for r in rows] == [
        (ModelProvider.RULES, ModelRequestOutcome.SUCCESS, ModelTaskType.TEAM)
    ]
    assert rows[0].request_hash == result.request_hash


async def llm_complete(models: _runtime.Runtime, database: Database, **kwargs):  # type: ignore[no-untyped-def]
    return await llm.complete(
        models,
        database,
        _ask(response_schema=Team, rules=lambda: Team(roles=["developer", "designer"]), **kwargs),
    )


async def test_scripted_model_answers_first_and_is_validated(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with llm.script(llm_runtime, "fake", ['{"roles": ["tester"]}']) as fake:
        result = await llm_complete(llm_runtime, database, task_type=ModelTaskType.TEAM)
    assert (result.provider, result.model) == (ModelProvider.SCRIPTED, "fake")
    assert result.parsed == Team(roles=["tester"])
    assert not result.from_rules
    assert not result.fallback
    assert fake.remaining == 0
    assert "JSON Schema" in fake.requests[0].messages[0].content


async def test_invalid_json_is_repaired_then_falls_back_to_rules(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with llm.script(llm_runtime, "fake", ["not json", '{"roles": 3}', "```json\n{}\n```"]) as fake:
        result = await llm_complete(llm_runtime, database, task_type=ModelTaskType.PLAN)
    assert result.provider == ModelProvider.RULES
    assert result.fallback
    assert [a.outcome for a in result.attempts] == [
        ModelRequestOutcome.INVALID_OUTPUT,
        ModelRequestOutcome.INVALID_OUTPUT,
        ModelRequestOutcome.INVALID_OUTPUT,
        ModelRequestOutcome.SUCCESS,
    ]
    # each repair feeds the validation error back
    assert "invalid" in fake.requests[1].messages[-1].content
    assert len(await _rows(database)) == 4


async def test_free_text_without_any_model_is_unavailable(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with pytest.raises(ServiceUnavailable):
        await llm.complete(llm_runtime, database, _ask())


async def test_exhausted_script_is_loud(database: Database, llm_runtime: _runtime.Runtime) -> None:
    with llm.script(llm_runtime, "fake", []), pytest.raises(ScriptExhausted):
        await llm.complete(llm_runtime, database, _ask())


async def test_messages_as_dicts_with_any_role_case(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    request = CompletionRequest(
        messages=[{"role": "SYSTEM", "content": "Be brief."}, {"role": "USER", "content": "Hi"}],
        task_type=ModelTaskType.INTENT,
        response_schema=Team,
        rules=lambda: Team(roles=[]),
    )
    assert [m.role for m in request.messages] == ["system", "user"]
    result = await llm.complete(llm_runtime, database, request)
    assert result.from_rules
