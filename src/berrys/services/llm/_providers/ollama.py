"""OLLAMA: Ollama's native API through the ``ollama`` client (its pulled models are listed).

Structured output uses Ollama's ``format`` (a JSON Schema constrains decoding); tool calls
come back as objects and are normalised to :class:`ToolCall`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import ollama

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
    tool_call_arguments,
)
from berrys.services.llm._providers.openai_compat import to_openai_tools
from berrys.services.llm.contracts import ChatMessage, ModelProvider, ModelTaskType, ToolCall

_CONTEXT = re.compile(r"context (length|window)|too long", re.I)


def to_ollama(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = []
    for message in messages:
        entry: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            entry["tool_calls"] = [
                {"function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls
            ]
        converted.append(entry)
    return converted


class OllamaProvider(Provider):
    kind = ModelProvider.OLLAMA

    def __init__(self, *, host: str, timeout: float) -> None:
        self.client = ollama.AsyncClient(host=host, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> OllamaProvider:
        assert settings.ollama_url
        return cls(host=settings.ollama_url, timeout=settings.llm_timeout_seconds)

    @staticmethod
    def _error(exc: Exception) -> ProviderError:
        detail = str(exc)[:1000]
        if isinstance(exc, httpx.TimeoutException):
            return ProviderTimeout(detail)
        if isinstance(exc, ConnectionError | httpx.TransportError):
            return ConnectionFailed(detail)
        status = getattr(exc, "status_code", 0) or 0
        if status == 429:
            return RateLimited(detail)
        if status >= 500:
            return ServerError(detail, status=status)
        if _CONTEXT.search(detail):
            return ContextOverflow(detail)
        return ProviderError(f"{type(exc).__name__}: {detail}")

    def _arguments(self, model: ModelSpec, request: ProviderRequest) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        arguments: dict[str, Any] = {
            "model": model.name,
            "messages": to_ollama(request.messages),
            "options": options or None,
        }
        if request.tools:
            arguments["tools"] = to_openai_tools(request.tools)
        elif request.json_schema is not None:
            arguments["format"] = request.json_schema
        return arguments

    async def complete(self, model: ModelSpec, request: ProviderRequest) -> ProviderResponse:
        try:
            response = await self.client.chat(**self._arguments(model, request))
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._error(exc) from None
        message = response.message
        calls = [
            ToolCall(
                id=f"call_{index}",
                name=call.function.name,
                arguments=tool_call_arguments(call.function.arguments),
            )
            for index, call in enumerate(message.tool_calls or [])
        ]
        return ProviderResponse(
            content=message.content or "",
            tool_calls=calls,
            prompt_tokens=response.prompt_eval_count,
            completion_tokens=response.eval_count,
        )

    async def stream(self, model: ModelSpec, request: ProviderRequest) -> AsyncIterator[str]:
        try:
            parts = await self.client.chat(**self._arguments(model, request), stream=True)
            async for part in parts:
                if part.message.content:
                    yield part.message.content
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._error(exc) from None

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        try:
            response = await self.client.embed(model=model, input=texts)
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._error(exc) from None
        return [list(vector) for vector in response.embeddings]

    async def discover(self) -> list[ModelSeed]:
        try:
            listed = await self.client.list()
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._error(exc) from None
        return [
            ModelSeed(
                provider=ModelProvider.OLLAMA,
                name=item.model or "",
                capabilities=FULL_CHAT,
                context_window=8192,
                is_local=True,
                quality=dict.fromkeys(ModelTaskType, 6),
            )
            for item in listed.models
            if item.model
        ]
