"""Model Orchestration's public types: requests and answers of the router, the registry, usage."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from berrys.core.contracts import MAX_INT, Contract, Name
from berrys.core.enums import BerrysEnum


class ModelProvider(BerrysEnum):
    SCRIPTED = "SCRIPTED"
    RULES = "RULES"
    LOCAL = "LOCAL"
    OPENAI = "OPENAI"
    ANTHROPIC = "ANTHROPIC"
    OLLAMA = "OLLAMA"


class ModelTaskType(BerrysEnum):
    """What a model call is for: the router's defaults and quality tiers are per task type."""

    GENERAL = "GENERAL"
    REQUIREMENTS = "REQUIREMENTS"
    TEAM = "TEAM"
    PLAN = "PLAN"
    INTENT = "INTENT"
    TASK = "TASK"
    REVIEW = "REVIEW"


class ModelCapability(BerrysEnum):
    CHAT = "CHAT"
    EMBEDDING = "EMBEDDING"
    TOOLS = "TOOLS"
    STRUCTURED_OUTPUT = "STRUCTURED_OUTPUT"


class ModelRequestOutcome(BerrysEnum):
    """How one attempt of a model call ended (a ``model_request`` row)."""

    SUCCESS = "SUCCESS"
    TIMEOUT = "TIMEOUT"
    RATE_LIMITED = "RATE_LIMITED"
    SERVER_ERROR = "SERVER_ERROR"
    CONNECTION_ERROR = "CONNECTION_ERROR"
    CONTEXT_OVERFLOW = "CONTEXT_OVERFLOW"
    INVALID_OUTPUT = "INVALID_OUTPUT"
    UNSUPPORTED = "UNSUPPORTED"
    ERROR = "ERROR"


class BudgetScope(BerrysEnum):
    """What a model budget limits: a project's or an agent's spend, or a provider's quota."""

    PROJECT = "PROJECT"
    AGENT = "AGENT"
    PROVIDER = "PROVIDER"


class BudgetPeriod(BerrysEnum):
    TOTAL = "TOTAL"
    DAILY = "DAILY"


Role = Literal["system", "user", "assistant", "tool"]
QualityTier = Annotated[int, Field(ge=0, le=10)]
MAX_CONTEXT_WINDOW = 100_000_000  # tokens: far past any model, well within the database
# Which kinds take a stored URL and key: OPENAI both (a local server may need no key),
# ANTHROPIC a key (the URL only to reach a proxy), OLLAMA a URL and no key.
ENDPOINT_KINDS = (ModelProvider.OPENAI, ModelProvider.ANTHROPIC, ModelProvider.OLLAMA)


def check_base_url(url: str) -> str:
    """An http(s) URL with a host and no credentials in it (the key goes in ``api_key``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("base_url must not carry credentials: give the key as api_key")
    if parts.query or parts.fragment:
        raise ValueError("base_url must have no query or fragment")
    return url.rstrip("/")


def check_api_key(key: SecretStr) -> SecretStr:
    value = key.get_secret_value().strip()
    # The message never quotes the key: validation errors are answered to the caller.
    if not value or not value.isprintable() or not value.isascii() or " " in value:
        raise ValueError("api_key must be printable ASCII without spaces")
    return SecretStr(value)


BaseUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(check_base_url),
]
ApiKey = Annotated[SecretStr, Field(min_length=1, max_length=500), AfterValidator(check_api_key)]


def check_endpoint(provider: ModelProvider, *, base_url: str | None, has_key: bool) -> None:
    """Refuse a URL or key a provider kind cannot use, saying what it takes."""
    if provider not in ENDPOINT_KINDS:
        if base_url or has_key:
            raise ValueError(f"{provider} models take no base_url or api_key")
        return
    if provider == ModelProvider.OLLAMA and has_key:
        raise ValueError("OLLAMA models take no api_key: give the server as base_url")
    if provider == ModelProvider.ANTHROPIC and base_url and not has_key:
        raise ValueError("an ANTHROPIC model with a base_url needs its api_key")


class ToolSpec(Contract):
    """A tool the model may call: a name, what it does, and a JSON Schema of its arguments."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ToolCall(Contract):
    """One normalised tool call (OpenAI ``tools``, Anthropic ``tool_use``, Ollama alike)."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ChatMessage(Contract):
    role: Role
    content: str = ""
    tool_calls: list[ToolCall] | None = Field(
        default=None, description="An assistant message's tool calls."
    )
    tool_call_id: str | None = Field(default=None, description="What a tool message answers.")

    @field_validator("role", mode="before")
    @classmethod
    def _lower_role(cls, value: object) -> object:
        """``USER`` (as chat history stores it) is ``user``."""
        return value.lower() if isinstance(value, str) else value


class Usage(Contract):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class CompletionRequest(BaseModel):
    """What :func:`berrys.services.llm.service.complete` is asked (Python callers only)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    messages: list[ChatMessage]
    task_type: ModelTaskType = ModelTaskType.GENERAL
    response_schema: type[BaseModel] | dict[str, Any] | None = Field(
        default=None,
        description="A Pydantic model (or a JSON Schema): the answer is validated against it.",
    )
    rules: Callable[[], Any] | None = Field(
        default=None,
        description="The deterministic answer the RULES provider gives for this request.",
    )
    model: str | None = Field(default=None, description="An explicit model name to try first.")
    tools: list[ToolSpec] | None = None
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    project_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    local_only: bool = Field(default=False, description="Only models that run on this machine.")
    specialisation: Specialisation | None = Field(
        default=None, description="The calling agent's specialisation: prefixes the system prompt."
    )


class Specialisation(Contract):
    """An agent's specialisation; :func:`compose_system_prompt` turns it into a system prompt."""

    role: str | None = None
    skills: list[str] = Field(default_factory=list)
    responsibilities: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    instructions: str | None = None


class Attempt(Contract):
    """One try of one model inside a call, as the router saw it."""

    attempt: int
    provider: ModelProvider
    model: str
    outcome: ModelRequestOutcome
    error: str | None = None
    latency_ms: float = 0.0
    usage: Usage = Field(default_factory=Usage)


class Completion(Contract):
    content: str
    parsed: Any = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    provider: ModelProvider
    model: str
    usage: Usage
    latency_ms: float
    attempts: list[Attempt]
    fallback: bool = Field(default=False, description="An earlier model failed first.")
    from_rules: bool = Field(default=False, description="The RULES provider answered.")
    reason: str = Field(default="", description="Why the router chose this model.")
    request_hash: str = ""


class StreamChunk(Contract):
    """A piece of a streamed answer; the last one has ``done`` and the call's summary."""

    delta: str = ""
    done: bool = False
    completion: Completion | None = None


# REST -----------------------------------------------------------------------------------


class ChatRequest(Contract):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    task_type: ModelTaskType = ModelTaskType.GENERAL
    response_schema: dict[str, Any] | None = Field(
        default=None, description="A JSON Schema the answer must satisfy."
    )
    tools: list[ToolSpec] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)
    project_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    local_only: bool = False
    stream: bool = Field(default=False, description="Answer as Server-Sent Events.")


class ChatResponse(Contract):
    content: str
    parsed: Any = None
    tool_calls: list[ToolCall]
    model: str
    provider: ModelProvider
    usage: Usage
    latency_ms: float
    attempts: list[Attempt]
    fallback: bool
    from_rules: bool
    reason: str


class EmbeddingRequest(Contract):
    input: list[str] = Field(min_length=1, max_length=512)
    model: str | None = None


class EmbeddingResult(Contract):
    model: str
    provider: str
    dimensions: int
    vectors: list[list[float]]


class ModelCreate(Contract):
    provider: ModelProvider
    name: Name
    capabilities: list[ModelCapability] = Field(default_factory=lambda: [ModelCapability.CHAT])
    context_window: int = Field(default=4096, ge=256, le=MAX_CONTEXT_WINDOW)
    input_price_per_million: float = Field(default=0.0, ge=0)
    output_price_per_million: float = Field(default=0.0, ge=0)
    is_local: bool = False
    enabled: bool = True
    quality: dict[ModelTaskType, QualityTier] = Field(
        default_factory=dict, description="Quality tier 0-10 per task type (default 5)."
    )
    base_url: BaseUrl | None = Field(
        default=None,
        description="Serve this model from this server (OPENAI-compatible, ANTHROPIC, "
        "OLLAMA) instead of the environment's provider.",
    )
    api_key: ApiKey | None = Field(
        default=None,
        description="The server's API key (OPENAI, ANTHROPIC): stored encrypted, never returned.",
    )

    @field_validator("provider")
    @classmethod
    def _not_scripted(cls, provider: ModelProvider) -> ModelProvider:
        # A registered SCRIPTED model has no answers: it would outrank and break every call.
        if provider == ModelProvider.SCRIPTED:
            raise ValueError(
                "SCRIPTED models are not registered: tests install them with llm.script"
            )
        return provider

    @model_validator(mode="after")
    def _endpoint_fits_provider(self) -> ModelCreate:
        check_endpoint(self.provider, base_url=self.base_url, has_key=self.api_key is not None)
        return self


class ModelUpdate(Contract):
    capabilities: list[ModelCapability] | None = None
    context_window: int | None = Field(default=None, ge=256, le=MAX_CONTEXT_WINDOW)
    input_price_per_million: float | None = Field(default=None, ge=0)
    output_price_per_million: float | None = Field(default=None, ge=0)
    is_local: bool | None = None
    enabled: bool | None = None
    quality: dict[ModelTaskType, QualityTier] | None = None
    base_url: BaseUrl | None = Field(default=None, description="A new server for this model.")
    api_key: ApiKey | None = Field(
        default=None, description="A new API key (replaces the stored one; never returned)."
    )


class ModelOut(Contract):
    id: uuid.UUID
    provider: ModelProvider
    name: str
    capabilities: list[ModelCapability]
    context_window: int
    input_price_per_million: float
    output_price_per_million: float
    is_local: bool
    enabled: bool
    quality: dict[ModelTaskType, int]
    success_rate: float
    latency_ms_avg: float | None
    feedback_score: float
    requests: int
    base_url: str | None = Field(
        description="The server it is served from; null: the environment's provider for its kind."
    )
    api_key: str = Field(
        validation_alias=AliasChoices("api_key", "api_key_status"),
        description='"set, ends in …1234", "set" or "not set": the key is never returned.',
    )
    created_at: datetime
    updated_at: datetime


class ModelTestResult(Contract):
    """One small real call to one model: did it answer, how fast, or the provider's error."""

    model_id: uuid.UUID
    provider: ModelProvider
    model: str
    ok: bool
    latency_ms: float
    reply: str = Field(default="", description="The start of the answer.")
    outcome: ModelRequestOutcome
    error: str | None = Field(default=None, description="The provider's error, key scrubbed.")


class GateRate(Contract):
    """How a model's deliverables or reviews of one task type fared at the quality gate."""

    provider: ModelProvider
    model: str
    task_type: ModelTaskType
    passed: int
    failed: int
    pass_rate: float = Field(description="passed / (passed + failed)")
    updated_at: datetime


class TaskPrice(Contract):
    """The model the router would give a run's task first, and what it charges."""

    provider: ModelProvider
    model: str
    input_usd_per_1k: float
    output_usd_per_1k: float


class ModelFeedback(Contract):
    score: int = Field(ge=-1, le=1, description="-1 bad, 0 neutral, 1 good.")


class ModelRequestOut(Contract):
    id: uuid.UUID
    call_id: uuid.UUID
    attempt: int
    provider: ModelProvider
    model_name: str
    task_type: ModelTaskType
    outcome: ModelRequestOutcome
    error_class: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    project_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    task_id: uuid.UUID | None
    request_hash: str
    route_reason: str | None
    created_at: datetime


class UsageGroup(Contract):
    key: str
    requests: int
    failures: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms_avg: float


class UsageReport(Contract):
    total: UsageGroup
    by_model: list[UsageGroup]
    by_provider_model: list[UsageGroup] = Field(
        default_factory=list,
        description='By provider and model, keyed "PROVIDER/name" (names may repeat across '
        "providers); the answerers outside the registry too (RULES: the offline drafts).",
    )
    by_project: list[UsageGroup]
    by_agent: list[UsageGroup]
    requests: list[ModelRequestOut]


class BudgetSet(Contract):
    scope: BudgetScope
    project_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    provider: ModelProvider | None = None
    period: BudgetPeriod = BudgetPeriod.TOTAL
    limit_usd: float | None = Field(default=None, ge=0)
    limit_tokens: int | None = Field(default=None, ge=0, le=MAX_INT)


class BudgetOut(BudgetSet):
    id: uuid.UUID
    spent_usd: float = 0.0
    spent_tokens: int = 0


CompletionRequest.model_rebuild()


class ProviderLoadOut(Contract):
    """Calls in flight to one provider across every process (PostgreSQL only)."""

    key: str = Field(description="The provider's kind, or a registered model's id.")
    slots: int = Field(description="Calls allowed in flight at once, as last set.")
    in_flight: int = Field(description="Calls in flight now (holds not expired).")
    peak: int = Field(description="The most calls ever in flight at once.")
    peak_at: datetime | None
