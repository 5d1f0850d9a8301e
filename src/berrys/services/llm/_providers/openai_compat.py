"""OPENAI: the official ``openai`` SDK against OpenAI or any compatible server.

Ollama's ``/v1``, vLLM and llama.cpp's server speak the same protocol; only the base URL
and the model names change. The API key stays inside the client: error texts are scrubbed
of it before they reach a log, a row or a response.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import openai

from berrys.config import Settings
from berrys.core import tracing
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
    tool_call_arguments,
)
from berrys.services.llm.contracts import (
    ChatMessage,
    ModelProvider,
    ModelTaskType,
    ToolCall,
    ToolSpec,
)

_KEYISH = re.compile(r"(sk|key)-[A-Za-z0-9_\-*.]{4,}", re.IGNORECASE)
_CONTEXT = re.compile(r"context (length|window)|maximum context|too many tokens|n_ctx", re.I)
# Known OpenAI models: context window and USD per million input / output tokens.
OPENAI_PRICES: dict[str, tuple[int, float, float]] = {
    "gpt-4o-mini": (128_000, 0.15, 0.60),
    "gpt-4o": (128_000, 2.50, 10.00),
    "gpt-4.1-mini": (1_047_576, 0.40, 1.60),
    "gpt-4.1": (1_047_576, 2.00, 8.00),
}


def scrub(text: str, secret: str | None) -> str:
    """``text`` without the API key or anything shaped like one."""
    if secret:
        text = text.replace(secret, "***")
    return _KEYISH.sub("***", text)


def to_openai_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = []
    for message in messages:
        entry: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            entry["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in message.tool_calls
            ]
        if message.role == "tool":
            entry["tool_call_id"] = message.tool_call_id or ""
        converted.append(entry)
    return converted


def to_openai_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


class OpenAIProvider(Provider):
    kind = ModelProvider.OPENAI

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        models: list[str],
        timeout: float,
    ) -> None:
        self._secret = api_key
        self.base_url = base_url
        self.models = models
        # The SDK insists on a key; local servers ignore it.
        # "json_schema" (OpenAI, vLLM, Ollama) or "json_object" with a schema (llama.cpp's
        # Python server): learned from the first refusal.
        self.json_mode = "json_schema"
        self.client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed", base_url=base_url, timeout=timeout, max_retries=0
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIProvider:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return cls(
            api_key=key,
            base_url=settings.openai_base_url,
            models=list(settings.openai_models),
            timeout=settings.llm_timeout_seconds,
        )

    def _error(self, exc: Exception) -> ProviderError:
        detail = scrub(_described(exc), self._secret)[:1000]
        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeout(detail)
        if isinstance(exc, openai.APIConnectionError):
            return ConnectionFailed(detail)
        if isinstance(exc, openai.RateLimitError):
            return RateLimited(detail, retry_after=parse_retry_after(_header(exc, "retry-after")))
        if isinstance(exc, openai.APIStatusError):
            if exc.status_code >= 500:
                return ServerError(detail, status=exc.status_code)
            code = getattr(exc, "code", None)
            if code == "context_length_exceeded" or (
                exc.status_code in (400, 413) and _CONTEXT.search(detail)
            ):
                return ContextOverflow(detail)
        return ProviderError(f"{type(exc).__name__}: {detail}")

    def _arguments(self, model: ModelSpec, request: ProviderRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": model.name,
            "messages": to_openai_messages(request.messages),
            "timeout": request.timeout,
        }
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.max_tokens is not None:
            # OpenAI's newer models take only max_completion_tokens; compatible servers max_tokens.
            key = "max_completion_tokens" if self.base_url is None else "max_tokens"
            arguments[key] = request.max_tokens
        if request.tools:
            arguments["tools"] = to_openai_tools(request.tools)
        elif request.json_schema is not None and self.json_mode == "json_object":
            arguments["response_format"] = {"type": "json_object", "schema": request.json_schema}
        elif request.json_schema is not None:
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": re.sub(r"[^A-Za-z0-9_-]", "_", request.schema_name)[:64],
                    "schema": request.json_schema,
                },
            }
        traced = tracing.headers()  # the server can join the model call's trace
        if traced:
            arguments["extra_headers"] = traced
        return arguments

    def _refused_json_schema(self, exc: Exception, request: ProviderRequest) -> bool:
        """A server without ``json_schema`` response formats: switch to ``json_object``."""
        if (
            request.json_schema is not None
            and not request.tools
            and self.json_mode == "json_schema"
            and isinstance(exc, openai.APIStatusError)
            and "response_format" in str(exc)
        ):
            self.json_mode = "json_object"
            return True
        return False

    async def _create(self, model: ModelSpec, request: ProviderRequest, **extra: Any) -> Any:
        try:
            return await self.client.chat.completions.create(
                **self._arguments(model, request), **extra
            )
        except openai.OpenAIError as exc:
            if not self._refused_json_schema(exc, request):
                raise self._error(exc) from None
        try:
            return await self.client.chat.completions.create(
                **self._arguments(model, request), **extra
            )
        except openai.OpenAIError as exc:
            raise self._error(exc) from None

    async def complete(self, model: ModelSpec, request: ProviderRequest) -> ProviderResponse:
        response = await self._create(model, request)
        if not response.choices:
            raise ServerError("the server answered without choices", status=502)
        message = response.choices[0].message
        calls = [
            ToolCall(
                id=call.id or f"call_{index}",
                name=call.function.name,
                arguments=tool_call_arguments(call.function.arguments),
            )
            for index, call in enumerate(message.tool_calls or [])
            if getattr(call, "function", None) is not None
        ]
        usage = response.usage
        return ProviderResponse(
            content=message.content or "",
            tool_calls=calls,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
        )

    async def stream(self, model: ModelSpec, request: ProviderRequest) -> AsyncIterator[str]:
        chunks = await self._create(model, request, stream=True)
        try:
            async for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.OpenAIError as exc:
            raise self._error(exc) from None

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        try:
            response = await self.client.embeddings.create(input=texts, model=model)
        except openai.OpenAIError as exc:
            raise self._error(exc) from None
        return [list(item.embedding) for item in response.data]

    async def discover(self) -> list[ModelSeed]:
        names = list(self.models)
        if not names and self.base_url is None:
            names = ["gpt-4o-mini"]
        if not names:
            try:
                listed = await self.client.models.list()
                names = [item.id async for item in listed]
            except openai.OpenAIError as exc:
                raise self._error(exc) from None
        seeds = []
        for name in names:
            window, price_in, price_out = OPENAI_PRICES.get(name, (8192, 0.0, 0.0))
            known = name in OPENAI_PRICES
            seeds.append(
                ModelSeed(
                    provider=self.kind,
                    name=name,
                    capabilities=FULL_CHAT,
                    context_window=window,
                    input_price_per_million=price_in,
                    output_price_per_million=price_out,
                    is_local=_is_loopback(self.base_url),
                    quality=dict.fromkeys(ModelTaskType, 8 if known else 5),
                )
            )
        return seeds

    async def aclose(self) -> None:
        await self.client.close()


def _described(exc: Exception) -> str:
    """The SDK's message, with the server's body when the SDK left it out (a server that
    answers ``{"detail": "Invalid API key"}`` is reported as just "Error code: 401")."""
    text = str(exc)
    body = getattr(exc, "body", None)
    if isinstance(exc, openai.APIStatusError) and body:
        shown = json.dumps(body) if isinstance(body, dict | list) else str(body)
        if shown not in text and str(body) not in text:
            text = f"{text} - {shown}"
    return text


def _header(exc: Exception, name: str) -> str | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers.get(name) if headers is not None else None


def _is_loopback(url: str | None) -> bool:
    return url is not None and any(h in url for h in ("://127.", "://localhost", "://[::1]"))
