"""A model call over HTTP (OpenAI-compatible and Anthropic servers, here on loopback) sends
the W3C trace context of its ``chat`` span (Anthropic's SDK: of its own span inside it) in a
``traceparent`` header; with tracing off, none."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from berrys.services.llm import service as llm
from berrys.services.llm._providers.anthropic import AnthropicProvider
from berrys.services.llm._providers.openai_compat import OpenAIProvider
from berrys.services.llm.contracts import ChatMessage, CompletionRequest, ModelProvider

OPENAI_ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-test",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
ANTHROPIC_ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-test",
    "content": [{"type": "text", "text": "4"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 1},
}


class _Server(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, self.headers.get("traceparent")))
        answer = ANTHROPIC_ANSWER if self.path.endswith("/messages") else OPENAI_ANSWER
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def model_server(models: Any) -> Iterator[list[tuple[str, str | None]]]:
    seen: list[tuple[str, str | None]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Server", (_Server,), {"seen": seen}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    models.providers[ModelProvider.OPENAI] = OpenAIProvider(
        api_key="sk-test", base_url=f"{url}/v1", models=["gpt-test"], timeout=10
    )
    models.providers[ModelProvider.ANTHROPIC] = AnthropicProvider(
        api_key="sk-ant-test", models=["claude-test"], timeout=10, base_url=url
    )
    yield seen
    server.shutdown()
    server.server_close()


def _ask(model: str) -> CompletionRequest:
    return CompletionRequest(messages=[ChatMessage(role="user", content="2+2?")], model=model)


async def test_a_model_server_receives_the_chat_spans_trace_context(
    spans, models, database, model_server
):
    for model in ("gpt-test", "claude-test"):
        result = await llm.complete(models, database, _ask(model))
        assert result.model == model
    recorded = {f"{s.context.span_id:016x}": s for s in spans.get_finished_spans()}
    chats = {s.name: s for s in recorded.values() if s.name.startswith("chat ")}
    assert [path for path, _ in model_server] == ["/v1/chat/completions", "/v1/messages"]
    (_, to_openai), (_, to_anthropic) = model_server
    openai_chat = chats["chat gpt-test"]
    assert openai_chat.attributes["gen_ai.provider.name"] == "openai"
    assert to_openai == (
        f"00-{openai_chat.context.trace_id:032x}-{openai_chat.context.span_id:016x}-01"
    )
    # The Anthropic SDK sends the context of a span of its own, inside the chat span.
    anthropic_chat = chats["chat claude-test"]
    assert anthropic_chat.attributes["gen_ai.provider.name"] == "anthropic"
    _, trace_id, parent_id, _ = to_anthropic.split("-")
    assert trace_id == f"{anthropic_chat.context.trace_id:032x}"
    assert recorded[parent_id].parent.span_id == anthropic_chat.context.span_id


async def test_without_tracing_no_trace_header_is_sent(models, database, model_server):
    await llm.complete(models, database, _ask("gpt-test"))
    await llm.complete(models, database, _ask("claude-test"))
    assert [traceparent for _, traceparent in model_server] == [None, None]
