"""Router behaviour with scripted providers that fail in every way a real one does."""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel
from sqlalchemy import select

from berrys.core.db import Database
from berrys.core.errors import ServiceUnavailable, Unprocessable
from berrys.services.llm import _runtime
from berrys.services.llm import service as llm
from berrys.services.llm._providers.base import ServerError
from berrys.services.llm.contracts import (
    ChatMessage,
    CompletionRequest,
    ModelProvider,
    ModelRequestOutcome,
    ModelTaskType,
    ToolSpec,
)
from berrys.services.llm.tables import ModelRequest

Out = ModelRequestOutcome


class Answer(BaseModel):
    answer: str


def ask(text: str = "What is two plus two?", **kwargs) -> CompletionRequest:  # type: ignore[no-untyped-def]
    return CompletionRequest(messages=[ChatMessage(role="user", content=text)], **kwargs)


async def rows(database: Database) -> list[ModelRequest]:
    async with database.transaction(read_only=True) as session:
        return list(
            await session.scalars(
                select(ModelRequest).order_by(ModelRequest.created_at, ModelRequest.attempt)
            )
        )


@pytest.mark.parametrize(
    ("failure", "outcome"),
    [
        ({"error": "timeout"}, Out.TIMEOUT),
        ({"error": "server_error", "status": 503}, Out.SERVER_ERROR),
        ({"error": "connection"}, Out.CONNECTION_ERROR),
        ({"error": "rate_limit"}, Out.RATE_LIMITED),
    ],
)
async def test_failure_falls_back_and_cools_down(
    database: Database, llm_runtime: _runtime.Runtime, failure: dict, outcome: ModelRequestOutcome
) -> None:
    with (
        llm.script(llm_runtime, "primary", [failure], quality=9, input_price_per_million=10.0),
        llm.script(
            llm_runtime, "backup", ["4", "4 again"], quality=8, output_price_per_million=20.0
        ),
    ):
        result = await llm.complete(llm_runtime, database, ask())
        assert (result.model, result.content, result.fallback) == ("backup", "4", True)
        assert [(a.model, a.outcome) for a in result.attempts] == [
            ("primary", outcome),
            ("backup", Out.SUCCESS),
        ]
        # the failing model now cools down: the next call goes straight to the backup
        second = await llm.complete(llm_runtime, database, ask())
        assert [a.model for a in second.attempts] == ["backup"]
        assert "cooling down: primary" in second.reason
    recorded = await rows(database)
    assert [(r.model_name, r.outcome, r.attempt) for r in recorded] == [
        ("primary", outcome, 1),
        ("backup", Out.SUCCESS, 2),
        ("backup", Out.SUCCESS, 1),
    ]
    assert recorded[0].call_id == recorded[1].call_id != recorded[2].call_id
    assert recorded[0].error_class is not None
    assert recorded[1].cost_usd == pytest.approx(recorded[1].completion_tokens * 20.0 / 1e6)
    assert result.usage.cost_usd == pytest.approx(recorded[1].cost_usd)


async def test_retry_after_is_honoured(database: Database, llm_runtime: _runtime.Runtime) -> None:
    with (
        llm.script(
            llm_runtime, "primary", [{"error": "rate_limit", "retry_after": 120}], quality=9
        ),
        llm.script(llm_runtime, "backup", ["a", "b"], quality=8),
    ):
        await llm.complete(llm_runtime, database, ask())
        cooldown = llm_runtime.cooldowns[(ModelProvider.SCRIPTED, "primary")]
        assert cooldown.strict
        assert 115 < cooldown.until - time.monotonic() <= 120
        second = await llm.complete(llm_runtime, database, ask())
    assert [a.model for a in second.attempts] == ["backup"]
    assert "primary: Retry-After" in second.reason


async def test_real_timeout_ends_a_hanging_call(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    llm_runtime.settings = llm_runtime.settings.model_copy(update={"llm_timeout_seconds": 0.05})
    with (
        llm.script(llm_runtime, "slow", [{"hang": True}], quality=9),
        llm.script(llm_runtime, "fast", ["done"], quality=8),
    ):
        result = await llm.complete(llm_runtime, database, ask())
    assert [(a.model, a.outcome) for a in result.attempts] == [
        ("slow", Out.TIMEOUT),
        ("fast", Out.SUCCESS),
    ]


async def test_context_overflow_goes_to_a_larger_window(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with (
        llm.script(
            llm_runtime, "small", [{"error": "context_overflow"}], quality=9, context_window=4096
        ),
        llm.script(llm_runtime, "same", ["never"], quality=8, context_window=4096) as same,
        llm.script(llm_runtime, "large", ["fits"], quality=7, context_window=128_000),
    ):
        result = await llm.complete(llm_runtime, database, ask())
    assert [(a.model, a.outcome) for a in result.attempts] == [
        ("small", Out.CONTEXT_OVERFLOW),
        ("large", Out.SUCCESS),
    ]
    assert same.remaining == 1  # no larger than the one that overflowed: skipped


async def test_prompt_above_a_window_is_filtered_before_calling(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with (
        llm.script(llm_runtime, "tiny", ["never"], quality=9, context_window=256),
        llm.script(llm_runtime, "roomy", ["ok"], quality=5, context_window=100_000),
    ):
        result = await llm.complete(llm_runtime, database, ask("word " * 2000))
    assert result.model == "roomy"
    assert "tiny: context 256" in result.reason


async def test_invalid_structured_output_is_repaired_then_next_model(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with (
        llm.script(llm_runtime, "sloppy", ["nope", "{}", '{"answer": 4}'], quality=9) as sloppy,
        llm.script(llm_runtime, "careful", ['Here you go: {"answer": "4"}'], quality=8),
    ):
        result = await llm.complete(llm_runtime, database, ask(response_schema=Answer))
    assert result.parsed == Answer(answer="4")
    assert [a.outcome for a in result.attempts] == [Out.INVALID_OUTPUT] * 3 + [Out.SUCCESS]
    assert "answer" in sloppy.requests[2].messages[-1].content  # the error was fed back
    assert len(await rows(database)) == 4


async def test_explicit_model_first_then_the_chain(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with (
        llm.script(llm_runtime, "best", ["from best"], quality=9),
        llm.script(llm_runtime, "chosen", ["from chosen"]),
    ):
        result = await llm.complete(llm_runtime, database, ask(model="chosen"))
        assert result.model == "chosen"
        assert result.reason.startswith("explicit model chosen")
        with pytest.raises(Unprocessable, match="Unknown model"):
            await llm.complete(llm_runtime, database, ask(model="no-such-model"))


async def test_needs_filter_tools_and_local_only(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    tools = [ToolSpec(name="search", description="Search", parameters={"type": "object"})]
    with (
        llm.script(llm_runtime, "no-tools", ["x"], quality=9, capabilities=["CHAT"]),
        llm.script(
            llm_runtime,
            "cloud",
            [{"content": "", "tool_calls": [{"name": "search", "arguments": '{"q": "tea"}'}]}],
            quality=8,
            is_local=False,
        ),
        llm.script(llm_runtime, "local", ["y"], quality=1),
    ):
        result = await llm.complete(llm_runtime, database, ask(tools=tools))
        assert result.model == "cloud"
        assert result.tool_calls[0].name == "search"
        assert result.tool_calls[0].arguments == {"q": "tea"}
        local = await llm.complete(llm_runtime, database, ask(local_only=True))
        assert local.model == "no-tools"  # CHAT only is enough without tools


async def test_every_model_failing_is_service_unavailable_and_recorded(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with (
        llm.script(llm_runtime, "a", [{"error": "server_error"}], quality=9),
        llm.script(llm_runtime, "b", [{"error": "timeout"}], quality=8),
        pytest.raises(ServiceUnavailable, match="a: SERVER_ERROR; b: TIMEOUT"),
    ):
        await llm.complete(llm_runtime, database, ask())
    assert [r.outcome for r in await rows(database)] == [Out.SERVER_ERROR, Out.TIMEOUT]


async def test_rules_is_the_last_fallback_when_a_capable_model_exists(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    request = ask(
        task_type=ModelTaskType.PLAN,
        response_schema=Answer,
        rules=lambda: Answer(answer="by rules"),
    )
    with llm.script(llm_runtime, "capable", [{"error": "server_error"}], quality=1):
        result = await llm.complete(llm_runtime, database, request)
    # quality 1 < RULES' 3 for PLAN: RULES would win outright ...
    assert result.provider == ModelProvider.RULES
    with llm.script(llm_runtime, "capable", [{"error": "server_error"}], quality=8):
        result = await llm.complete(llm_runtime, database, request)
    # ... a capable model takes over, and RULES catches its failure
    assert [a.provider for a in result.attempts] == [ModelProvider.SCRIPTED, ModelProvider.RULES]
    assert result.parsed == Answer(answer="by rules")
    assert result.from_rules


async def test_learned_success_rate_reorders_equal_tiers(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with (
        llm.script(llm_runtime, "flaky", [{"error": "invalid"}], quality=5),
        llm.script(llm_runtime, "steady", ["ok", "ok"], quality=5),
    ):
        first = await llm.complete(llm_runtime, database, ask())
        second = await llm.complete(llm_runtime, database, ask())
    assert [a.model for a in first.attempts] == ["flaky", "steady"]
    assert [a.model for a in second.attempts] == ["steady"]  # learned, not cooled down
    assert (ModelProvider.SCRIPTED, "flaky") not in llm_runtime.cooldowns


async def test_stream_yields_deltas_and_falls_back_before_the_first(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with (
        llm.script(llm_runtime, "down", [{"error": "connection"}], quality=9),
        llm.script(llm_runtime, "up", ["streamed answer"], quality=8),
    ):
        chunks = [chunk async for chunk in llm.stream(llm_runtime, database, ask())]
    assert "".join(c.delta for c in chunks) == "streamed answer"
    assert chunks[-1].done
    assert chunks[-1].completion is not None
    assert [a.outcome for a in chunks[-1].completion.attempts] == [
        Out.CONNECTION_ERROR,
        Out.SUCCESS,
    ]
    assert len(await rows(database)) == 2


async def test_stream_failing_midway_ends_with_the_error_and_no_fallback(
    database: Database, llm_runtime: _runtime.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def breaks_after_one_delta(model, request):  # type: ignore[no-untyped-def]
        yield "half an "
        raise ServerError("stream cut", status=502)

    scripted = llm_runtime.providers[ModelProvider.SCRIPTED]
    monkeypatch.setattr(scripted, "stream", breaks_after_one_delta)
    received: list[str] = []

    async def read_all() -> None:
        async for chunk in llm.stream(llm_runtime, database, ask()):
            received.append(chunk.delta)

    with (
        llm.script(llm_runtime, "cut", ["never read"], quality=9),
        llm.script(llm_runtime, "spare", ["never asked"], quality=8),
        pytest.raises(ServiceUnavailable, match="cut failed midway: stream cut"),
    ):
        await read_all()
    assert received == ["half an "]  # what was sent stays sent; no second model starts
    assert [(r.model_name, r.outcome) for r in await rows(database)] == [("cut", Out.SERVER_ERROR)]
