"""The one interface every provider implements, the errors the router acts on, and helpers."""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from berrys.services.llm.contracts import (
    ChatMessage,
    ModelCapability,
    ModelProvider,
    ModelRequestOutcome,
    ModelTaskType,
    ToolCall,
    ToolSpec,
)

C = ModelCapability
CHAT_ONLY = frozenset({C.CHAT})
FULL_CHAT = frozenset({C.CHAT, C.TOOLS, C.STRUCTURED_OUTPUT})
STRUCTURED_TASKS = frozenset(
    {ModelTaskType.REQUIREMENTS, ModelTaskType.TEAM, ModelTaskType.PLAN, ModelTaskType.INTENT}
)
DEFAULT_QUALITY = 5


@dataclass(slots=True)
class ModelSpec:
    """What the router knows of one model: its registry row, or an in-process scripted model."""

    provider: ModelProvider
    name: str
    capabilities: frozenset[ModelCapability] = FULL_CHAT
    context_window: int = 4096
    input_price_per_million: float = 0.0
    output_price_per_million: float = 0.0
    is_local: bool = False
    quality: dict[ModelTaskType, int] = field(default_factory=dict)
    id: uuid.UUID | None = None
    success_rate: float = 1.0
    latency_ms_avg: float | None = None
    feedback_score: float = 0.0
    # Held against the offline draft's gate pass rate for TASK and REVIEW (``llm.gates``).
    gated: bool = True
    # The registered model whose stored URL and key serve this one (``Runtime.endpoints``);
    # None: the provider configured for its kind.
    endpoint: uuid.UUID | None = None

    @property
    def key(self) -> tuple[ModelProvider, str]:
        return (self.provider, self.name)

    def tier(self, task_type: ModelTaskType) -> int:
        return self.quality.get(task_type, DEFAULT_QUALITY)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_price_per_million
            + completion_tokens * self.output_price_per_million
        ) / 1_000_000


@dataclass(slots=True)
class ModelSeed:
    """A model a provider offers, for the registry (inserted once, then the user's to edit)."""

    provider: ModelProvider
    name: str
    capabilities: frozenset[ModelCapability] = FULL_CHAT
    context_window: int = 8192
    input_price_per_million: float = 0.0
    output_price_per_million: float = 0.0
    is_local: bool = False
    quality: dict[ModelTaskType, int] = field(default_factory=dict)


@dataclass(slots=True)
class ProviderRequest:
    """A request as one provider receives it: messages ready, schema as JSON Schema."""

    messages: list[ChatMessage]
    task_type: ModelTaskType = ModelTaskType.GENERAL
    json_schema: dict[str, Any] | None = None
    schema_name: str = "answer"
    tools: list[ToolSpec] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 60.0
    rules: Callable[[], Any] | None = None
    request_hash: str = ""


@dataclass(slots=True)
class ProviderResponse:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    parsed: Any = None


class ProviderError(Exception):
    """A failure the router answers by falling back to the next model."""

    outcome = ModelRequestOutcome.ERROR
    cooldown = True

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail or self.__class__.__name__


class ProviderTimeout(ProviderError):
    outcome = ModelRequestOutcome.TIMEOUT


class RateLimited(ProviderError):
    outcome = ModelRequestOutcome.RATE_LIMITED

    def __init__(self, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(detail or "rate limited")
        self.retry_after = retry_after


class ServerError(ProviderError):
    outcome = ModelRequestOutcome.SERVER_ERROR

    def __init__(self, detail: str = "", status: int = 500) -> None:
        super().__init__(detail or f"server error {status}")
        self.status = status


class ConnectionFailed(ProviderError):
    outcome = ModelRequestOutcome.CONNECTION_ERROR


class ContextOverflow(ProviderError):
    outcome = ModelRequestOutcome.CONTEXT_OVERFLOW
    cooldown = False


class InvalidOutput(ProviderError):
    outcome = ModelRequestOutcome.INVALID_OUTPUT
    cooldown = False


class Unsupported(ProviderError):
    """The provider cannot serve this kind of request (not the model's fault)."""

    outcome = ModelRequestOutcome.UNSUPPORTED
    cooldown = False


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (about four characters a token) for routing and accounting."""
    return max(1, (len(text) + 3) // 4) if text else 0


def prompt_text(messages: list[ChatMessage]) -> str:
    return "\n".join(message.content for message in messages)


def tool_call_arguments(raw: Any) -> dict[str, Any]:
    """Arguments as a dict, whether the provider sent a JSON string or an object."""
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {"_raw": str(raw)}
    return value if isinstance(value, dict) else {"_value": value}


class Provider(ABC):
    """A source of completions: the router calls ``complete`` and ``stream`` with a model."""

    kind: ModelProvider
    concurrency: int | None = None  # None: the configured per-provider limit

    @abstractmethod
    async def complete(self, model: ModelSpec, request: ProviderRequest) -> ProviderResponse: ...

    async def stream(self, model: ModelSpec, request: ProviderRequest) -> AsyncIterator[str]:
        """Text deltas; providers without native streaming answer in one piece."""
        response = await self.complete(model, request)
        yield response.content

    async def discover(self) -> list[ModelSeed]:
        """The models this provider offers, for the registry."""
        return []

    async def aclose(self) -> None:
        return None
