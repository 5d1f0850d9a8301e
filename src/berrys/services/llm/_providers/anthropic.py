"""ANTHROPIC: the official ``anthropic`` SDK (Messages API).

System messages become ``system``; tool calls are ``tool_use`` blocks and their results
``tool_result`` blocks, normalised to :class:`ToolCall`. Structured output forces one tool
whose input schema is the requested JSON Schema, so the answer arrives as that tool's input.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from berrys.config import Settings
from berrys.services.llm._providers.base import (
    FULL_CHAT,
    ConnectionFailed,
    ContextOverflow,
    ModelSeed,
    ModelSpec,
    Provider,
    ProviderError,
    ProviderRequest,
    ProviderResponse,
    ProviderTimeout,
    RateLimited,
    ServerError,
    parse_retry_after,
)
from berrys.services.llm._providers.openai_compat import scrub
from berrys.services.llm.contracts import ChatMessage, ModelProvider, ModelTaskType, ToolCall

ANSWER_TOOL = "answer"
DEFAULT_MAX_TOKENS = 1024
_CONTEXT = re.compile(r"prompt is too long|context (length|window)|too many tokens", re.I)
ANTHROPIC_PRICES: dict[str, tuple[int, float, float]] = {
    "claude-3-5-haiku-latest": (200_000, 0.80, 4.00),
    "claude-3-7-sonnet-latest": (200_000, 3.00, 15.00),
    "claude-sonnet-4-0": (200_000, 3.00, 15.00),
}


def to_anthropic(messages: list[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, messages) in the Messages API's shape."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    converted: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content,
            }
            converted.append({"role": "user", "content": [block]})
            continue
        if message.role == "assistant" and message.tool_calls:
            blocks: list[dict[str, Any]] = []
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in message.tool_calls
            ]
            converted.append({"role": "assistant", "content": blocks})
            continue
        converted.append({"role": message.role, "content": message.content})
    return system, converted


class AnthropicProvider(Provider):
    kind = ModelProvider.ANTHROPIC

    def __init__(
        self, *, api_key: str, models: list[str], timeout: float, base_url: str | None = None
    ) -> None:
        self._secret = api_key
        self.models = models
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> AnthropicProvider:
        assert settings.anthropic_api_key is not None
        return cls(
            api_key=settings.anthropic_api_key.get_secret_value(),
            models=list(settings.anthropic_models),
            timeout=settings.llm_timeout_seconds,
        )

    def _error(self, exc: Exception) -> ProviderError:
        detail = scrub(str(exc), self._secret)[:1000]
        if isinstance(exc, anthropic.APITimeoutError):
            return ProviderTimeout(detail)
        if isinstance(exc, anthropic.APIConnectionError):
            return ConnectionFailed(detail)
        if isinstance(exc, anthropic.RateLimitError):
            response = getattr(exc, "response", None)
            header = response.headers.get("retry-after") if response is not None else None
            return RateLimited(detail, retry_after=parse_retry_after(header))
        if isinstance(exc, anthropic.APIStatusError):
            if exc.status_code >= 500:
                return ServerError(detail, status=exc.status_code)
            if exc.status_code in (400, 413) and _CONTEXT.search(detail):
                return ContextOverflow(detail)
        return ProviderError(f"{type(exc).__name__}: {detail}")

    def _arguments(self, model: ModelSpec, request: ProviderRequest) -> dict[str, Any]:
        system, messages = to_anthropic(request.messages)
        arguments: dict[str, Any] = {
            "model": model.name,
            "messages": messages,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "timeout": request.timeout,
        }
        if system:
            arguments["system"] = system
        if request.tools:
            arguments["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        elif request.json_schema is not None:
            arguments["tools"] = [
                {
                    "name": ANSWER_TOOL,
                    "description": "Give the answer in this structure.",
                    "input_schema": request.json_schema,
                }
            ]
            arguments["tool_choice"] = {"type": "tool", "name": ANSWER_TOOL}
        return arguments

    async def complete(self, model: ModelSpec, request: ProviderRequest) -> ProviderResponse:
        try:
            response = await self.client.messages.create(**self._arguments(model, request))
        except anthropic.AnthropicError as exc:
            raise self._error(exc) from None
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in response.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                if block.name == ANSWER_TOOL and not request.tools:
                    texts.append(json.dumps(block.input))
                else:
                    calls.append(
                        ToolCall(id=block.id, name=block.name, arguments=dict(block.input))
                    )
        return ProviderResponse(
            content="".join(texts),
            tool_calls=calls,
            prompt_tokens=response.usage.input_tokens,
            completion_tokens=response.usage.output_tokens,
        )

    async def stream(self, model: ModelSpec, request: ProviderRequest) -> AsyncIterator[str]:
        try:
            async with self.client.messages.stream(**self._arguments(model, request)) as events:
                async for text in events.text_stream:
                    yield text
        except anthropic.AnthropicError as exc:
            raise self._error(exc) from None

    async def discover(self) -> list[ModelSeed]:
        seeds = []
        for name in self.models:
            window, price_in, price_out = ANTHROPIC_PRICES.get(name, (200_000, 3.0, 15.0))
            seeds.append(
                ModelSeed(
                    provider=ModelProvider.ANTHROPIC,
                    name=name,
                    capabilities=FULL_CHAT,
                    context_window=window,
                    input_price_per_million=price_in,
                    output_price_per_million=price_out,
                    quality=dict.fromkeys(ModelTaskType, 8),
                )
            )
        return seeds

    async def aclose(self) -> None:
        await self.client.close()
