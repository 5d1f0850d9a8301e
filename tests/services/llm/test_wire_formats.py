"""ANTHROPIC and OLLAMA through their official clients against a loopback HTTP server that
speaks their wire formats: message conversion, normalised tool calls, structured output by
a forced tool, Retry-After, model discovery. Plus the specialisation hook and the per-provider
concurrency limit."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import BaseModel

from berrys.core.db import Database
from berrys.services.llm import _runtime
from berrys.services.llm import service as llm
from berrys.services.llm._providers.anthropic import AnthropicProvider
from berrys.services.llm._providers.ollama import OllamaProvider
from berrys.services.llm._providers.openai_compat import to_openai_messages
from berrys.services.llm.contracts import (
    ChatMessage,
    CompletionRequest,
    ModelProvider,
    ModelRequestOutcome,
    Specialisation,
    ToolCall,
    ToolSpec,
)

SEARCH = ToolSpec(
    name="search",
    description="Search the web",
    parameters={"type": "object", "properties": {"q": {"type": "string"}}},
)


class Verdict(BaseModel):
    ok: bool


class _Handler(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            self._answer(200, {"models": [{"model": "qwen2.5:7b", "name": "qwen2.5:7b"}]})
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, body))
        if self.path == "/v1/messages":
            self._anthropic(body)
        elif self.path == "/api/chat":
            self._answer(
                200,
                {
                    "model": body["model"],
                    "created_at": "2026-11-26T00:00:00Z",
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [{"function": {"name": "search", "arguments": {"q": "tea"}}}],
                    },
                    "done": True,
                    "prompt_eval_count": 11,
                    "eval_count": 4,
                },
            )

    def _anthropic(self, body: dict[str, Any]) -> None:
        if body["model"] == "busy":
            error = {"type": "rate_limit_error", "message": "slow down"}
            self._answer(429, {"type": "error", "error": error}, {"retry-after": "7"})
            return
        if body.get("tool_choice", {}).get("name") == "answer":
            content = [{"type": "tool_use", "id": "tu_1", "name": "answer", "input": {"ok": True}}]
        else:
            content = [
                {"type": "text", "text": "Searching."},
                {"type": "tool_use", "id": "tu_2", "name": "search", "input": {"q": "tea"}},
            ]
        self._answer(
            200,
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": {"input_tokens": 21, "output_tokens": 9},
            },
        )

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def wire_server() -> Iterator[str]:
    _Handler.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def wired(llm_runtime: _runtime.Runtime, wire_server: str) -> _runtime.Runtime:
    llm_runtime.providers[ModelProvider.ANTHROPIC] = AnthropicProvider(
        api_key="sk-ant-test", models=["claude-test", "busy"], timeout=10, base_url=wire_server
    )
    llm_runtime.providers[ModelProvider.OLLAMA] = OllamaProvider(host=wire_server, timeout=10)
    return llm_runtime


def _ask(**kwargs: Any) -> CompletionRequest:
    return CompletionRequest(
        messages=[
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Find tea shops."),
            ChatMessage(
                role="assistant",
                content="",
                tool_calls=[ToolCall(id="t0", name="search", arguments={"q": "x"})],
            ),
            ChatMessage(role="tool", content="no results", tool_call_id="t0"),
        ],
        **kwargs,
    )


async def test_anthropic_tool_use_is_normalised(
    database: Database, wired: _runtime.Runtime
) -> None:
    result = await llm.complete(wired, database, _ask(model="claude-test", tools=[SEARCH]))
    assert result.provider == ModelProvider.ANTHROPIC
    assert result.content == "Searching."
    assert result.tool_calls == [ToolCall(id="tu_2", name="search", arguments={"q": "tea"})]
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (21, 9)
    path, sent = _Handler.received[-1]
    assert path == "/v1/messages"
    assert sent["system"] == "Be brief."
    assert sent["tools"][0]["input_schema"] == SEARCH.parameters
    assert sent["messages"][1]["content"][0]["type"] == "tool_use"
    assert sent["messages"][2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "t0",
        "content": "no results",
    }


async def test_anthropic_structured_output_by_forced_tool(
    database: Database, wired: _runtime.Runtime
) -> None:
    result = await llm.complete(wired, database, _ask(model="claude-test", response_schema=Verdict))
    assert result.parsed == Verdict(ok=True)
    assert _Handler.received[-1][1]["tool_choice"] == {"type": "tool", "name": "answer"}


async def test_anthropic_429_retry_after(database: Database, wired: _runtime.Runtime) -> None:
    with llm.script(wired, "backup", ["ok"], quality=1):
        result = await llm.complete(wired, database, _ask(model="busy"))
    assert result.attempts[0].outcome == ModelRequestOutcome.RATE_LIMITED
    cooldown = wired.cooldowns[(ModelProvider.ANTHROPIC, "busy")]
    assert cooldown.strict


async def test_ollama_native_chat_and_discovery(
    database: Database, wired: _runtime.Runtime
) -> None:
    seeds = await wired.providers[ModelProvider.OLLAMA].discover()
    assert [s.name for s in seeds] == ["qwen2.5:7b"]
    result = await llm.complete(wired, database, _ask(model="qwen2.5:7b", tools=[SEARCH]))
    assert result.provider == ModelProvider.OLLAMA
    assert result.tool_calls[0].name == "search"
    assert result.tool_calls[0].arguments == {"q": "tea"}
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (11, 4)
    assert _Handler.received[-1][1]["tools"][0]["function"]["name"] == "search"


def test_openai_wire_format_of_tool_messages() -> None:
    converted = to_openai_messages(_ask().messages)
    assert converted[2]["tool_calls"][0] == {
        "id": "t0",
        "type": "function",
        "function": {"name": "search", "arguments": '{"q": "x"}'},
    }
    assert converted[3] == {"role": "tool", "content": "no results", "tool_call_id": "t0"}


async def test_specialisation_composes_the_system_prompt(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    specialisation = Specialisation(
        role="a senior backend developer",
        skills=["Python", "PostgreSQL"],
        responsibilities=["the API"],
        domains=["e-commerce"],
    )
    with llm.script(llm_runtime, "fake", ["ok"]) as fake:
        await llm.complete(llm_runtime, database, _ask(specialisation=specialisation))
    system = fake.requests[0].messages[0].content
    assert system.startswith("Be brief.")
    assert "You are a senior backend developer." in system
    assert "Your skills: Python, PostgreSQL." in system
    assert "Your domains: e-commerce." in system


async def test_per_provider_concurrency_limit(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    llm_runtime.settings = llm_runtime.settings.model_copy(update={"llm_provider_concurrency": 1})
    gate, entered = asyncio.Event(), asyncio.Event()
    inside = 0
    most = 0

    async def held(request: Any) -> str:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        entered.set()
        await gate.wait()
        inside -= 1
        return "done"

    with llm.script(llm_runtime, "one-at-a-time", [held] * 3):
        calls = [asyncio.create_task(llm.complete(llm_runtime, database, _ask())) for _ in range(3)]
        async with asyncio.timeout(5):
            await entered.wait()
            for _ in range(20):
                await asyncio.sleep(0)  # give the other two every chance to get in
            assert inside == 1
            gate.set()
            results = await asyncio.gather(*calls)
    assert most == 1
    assert [r.content for r in results] == ["done"] * 3


async def test_readiness_names_failing_providers(wired: _runtime.Runtime) -> None:
    checks = await llm.readiness(wired)
    assert checks["anthropic"] == {"status": "ok"}
    assert checks["ollama"] == {"status": "ok"}
    wired.providers[ModelProvider.OLLAMA] = OllamaProvider(host="http://127.0.0.1:9", timeout=1)
    checks = await llm.readiness(wired)
    assert checks["ollama"]["status"] == "failing"
