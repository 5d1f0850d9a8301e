"""Request and response models of tools: tools, MCP servers, bindings, calls, evaluations."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

import httpx
from pydantic import (
    AfterValidator,
    AliasChoices,
    Field,
    SecretStr,
    StringConstraints,
    model_validator,
)

from berrys.core.contracts import Contract, Description
from berrys.core.enums import BerrysEnum


class ToolStatus(BerrysEnum):
    DISCOVERED = "DISCOVERED"
    EVALUATED = "EVALUATED"
    APPROVED = "APPROVED"
    DEPRECATED = "DEPRECATED"
    REJECTED = "REJECTED"


class ToolSource(BerrysEnum):
    BUILTIN = "BUILTIN"
    MCP = "MCP"
    HTTP = "HTTP"
    # A skill of a remote A2A agent (a server row of transport A2A).
    A2A = "A2A"


class ApprovalPolicy(BerrysEnum):
    AUTO = "AUTO"
    REQUIRES_APPROVAL = "REQUIRES_APPROVAL"
    DENY = "DENY"


class McpTransport(BerrysEnum):
    """How Berrys reaches a tool server: an MCP server on stdio or streamable HTTP, or a
    remote A2A agent (its URL; its card's skills are its tools)."""

    STDIO = "STDIO"
    STREAMABLE_HTTP = "STREAMABLE_HTTP"
    A2A = "A2A"


class ToolExecutionOutcome(BerrysEnum):
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    TIMEOUT = "TIMEOUT"
    INVALID = "INVALID"
    DENIED = "DENIED"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"


class ToolVerdict(BerrysEnum):
    RECOMMENDED = "RECOMMENDED"
    ACCEPTABLE = "ACCEPTABLE"
    NOT_RECOMMENDED = "NOT_RECOMMENDED"


_TOOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _tool_name(value: str) -> str:
    if not _TOOL_NAME.match(value):
        raise ValueError("letters, digits, '_', '.' and '-' only, starting with a letter or digit")
    return value


def _tags(values: list[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        tag = value.strip().lower()
        if tag and tag not in seen:
            seen.append(tag)
    return seen


ToolName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_tool_name),
]
# The mcp_server table keeps 100 characters of a name.
McpServerName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_tool_name),
]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Tags = Annotated[list[Tag], Field(max_length=50), AfterValidator(_tags)]
Version = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Timeout = Annotated[float, Field(gt=0, le=3600)]
# An HTTP header: a token for its name (RFC 9110), visible ASCII for its value (no CR/LF).
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\t]{0,4000}$")


def _headers(values: dict[str, str]) -> dict[str, str]:
    for name, value in values.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not an HTTP header name")
        if not _HEADER_VALUE.match(value):
            raise ValueError(f"the {name} header's value must be visible ASCII, at most 4000")
    if "authorization" in {name.lower() for name in values}:
        raise ValueError("give the Authorization header's token as bearer_token")
    return values


def _token(value: SecretStr) -> SecretStr:
    if not _HEADER_VALUE.match(value.get_secret_value()):
        raise ValueError("a bearer token must be visible ASCII, at most 4000 characters")
    return value


def _mcp_url(value: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("an http:// or https:// URL with a host")
    if url.userinfo:
        raise ValueError("credentials in the URL are refused: give headers or a bearer_token")
    return value


Headers = Annotated[dict[str, str], Field(max_length=20), AfterValidator(_headers)]
BearerToken = Annotated[SecretStr, AfterValidator(_token)]
McpUrl = Annotated[str, StringConstraints(min_length=8, max_length=2000), AfterValidator(_mcp_url)]


class ToolCreate(Contract):
    """A tool to register. ``target`` is what it calls: a built-in's key, or, for an MCP
    tool, its name on ``mcp_server_id``; it defaults to ``name``."""

    name: ToolName
    description: Description = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    capabilities: Tags = Field(default_factory=list)
    categories: Tags = Field(default_factory=list)
    source: ToolSource
    version: Version = "1.0.0"
    status: ToolStatus = ToolStatus.DISCOVERED
    configuration: dict[str, Any] = Field(default_factory=dict)
    approval_policy: ApprovalPolicy = ApprovalPolicy.AUTO
    idempotent: bool = False
    target: ToolName | None = None
    mcp_server_id: uuid.UUID | None = None
    timeout_seconds: Timeout | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ToolUpdate(Contract):
    description: Description | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    capabilities: Tags | None = None
    categories: Tags | None = None
    version: Version | None = None
    status: ToolStatus | None = None
    configuration: dict[str, Any] | None = None
    approval_policy: ApprovalPolicy | None = None
    idempotent: bool | None = None
    timeout_seconds: Timeout | None = None
    metadata: dict[str, Any] | None = None


class ToolOut(Contract):
    id: uuid.UUID
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    capabilities: list[str]
    categories: list[str]
    source: ToolSource
    version: str
    status: ToolStatus
    configuration: dict[str, Any] = Field(description="Secret values are shown as '***'.")
    approval_policy: ApprovalPolicy
    idempotent: bool
    target: str
    mcp_server_id: uuid.UUID | None
    timeout_seconds: float | None
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("tool_metadata", "metadata"))
    score: float | None
    usage_count: int
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CategoryOut(Contract):
    name: str
    tools: int


class BatchCreate(Contract):
    tools: list[ToolCreate] = Field(min_length=1, max_length=200)


class BatchItemResult(Contract):
    index: int
    name: str
    ok: bool
    tool: ToolOut | None = None
    error: str | None = None
    status: int = Field(description="The HTTP status this item alone would have had.")


class BatchResult(Contract):
    created: int
    failed: int
    results: list[BatchItemResult]


class McpServerCreate(Contract):
    """A STDIO server (``command``, ``args``, ``env``), or a STREAMABLE_HTTP one or a remote
    A2A agent (``url``: the agent's base URL, where its card is; ``headers``,
    ``bearer_token``); the headers and the token are stored encrypted."""

    name: McpServerName
    transport: McpTransport = McpTransport.STDIO
    command: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    args: list[Annotated[str, StringConstraints(max_length=4000)]] = Field(
        default_factory=list, max_length=100
    )
    env: dict[str, str] = Field(default_factory=dict)
    url: McpUrl | None = None
    headers: Headers = Field(
        default_factory=dict, description="Sent with every request; stored encrypted."
    )
    bearer_token: BearerToken | None = Field(
        default=None,
        description="Sent as 'Authorization: Bearer ...'; stored encrypted, never returned.",
    )
    timeout_seconds: Timeout = 30.0
    enabled: bool = True

    @model_validator(mode="after")
    def _transport_fields(self) -> McpServerCreate:
        if self.transport == McpTransport.STDIO:
            if not self.command:
                raise ValueError("a STDIO server needs a command")
            if self.url or self.headers or self.bearer_token:
                raise ValueError("a STDIO server takes no url, headers or bearer_token")
        else:
            if not self.url:
                raise ValueError(f"a {self.transport.value} server needs an http(s) url")
            if self.command or self.args or self.env:
                raise ValueError(f"a {self.transport.value} server takes no command, args or env")
        return self


class McpServerUpdate(Contract):
    command: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    args: list[Annotated[str, StringConstraints(max_length=4000)]] | None = None
    env: dict[str, str] | None = None
    url: McpUrl | None = None
    headers: Headers | None = Field(
        default=None, description="Replaces every stored header ({} removes them)."
    )
    bearer_token: BearerToken | None = Field(
        default=None, description="Replaces the stored token ('' removes it)."
    )
    timeout_seconds: Timeout | None = None
    enabled: bool | None = None


class McpServerOut(Contract):
    id: uuid.UUID
    name: str
    transport: McpTransport
    command: str | None = Field(description="Shown as '***' to anyone but an ADMIN.")
    args: list[str] = Field(description="Shown as ['***'] to anyone but an ADMIN.")
    env: dict[str, str] = Field(description="Values are shown as '***'.")
    url: str | None
    header_names: list[str] = Field(description="The headers sent; their values never shown.")
    has_token: bool = Field(description="Whether a bearer token is stored (never shown).")
    timeout_seconds: float
    enabled: bool
    healthy: bool | None
    last_error: str | None
    last_checked_at: datetime | None
    server_version: str | None
    protocol_version: str | None
    created_at: datetime
    updated_at: datetime


class McpHealthOut(Contract):
    server_id: uuid.UUID
    name: str
    healthy: bool | None
    connected: bool
    last_error: str | None
    error_line: str | None = Field(
        default=None,
        description="last_error as one line: what failed, and the last line "
        "the server printed on stderr.",
    )
    tools: int | None = None
    tool_names: list[str] = Field(default_factory=list, description="The tools it lists.")
    latency_ms: float | None = None


class RefreshResult(Contract):
    server: McpServerOut
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    missing: list[str] = Field(description="Registered before, no longer listed: DEPRECATED.")


class DiscoverRequest(Contract):
    capability: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = (
        None
    )
    query: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    limit: int = Field(default=10, ge=1, le=100)
    include_servers: bool = True

    @model_validator(mode="after")
    def _something(self) -> DiscoverRequest:
        if not self.capability and not self.query:
            raise ValueError("give a capability, a query, or both")
        return self


class Candidate(Contract):
    kind: str = Field(description="TOOL or MCP_SERVER")
    tool_id: uuid.UUID | None = None
    mcp_server_id: uuid.UUID | None = None
    name: str
    description: str
    score: float
    reasons: list[str]
    status: ToolStatus | None = None
    evaluation_score: float | None = None


class DiscoverResult(Contract):
    id: uuid.UUID
    capability: str | None
    query: str | None
    candidates: list[Candidate]
    semantic: bool = Field(description="Whether embeddings took part in the ranking.")
    created_at: datetime


class DiscoveryOut(Contract):
    """A stored discovery request: what was asked, in which context, what was found."""

    id: uuid.UUID
    capability: str | None
    query: str | None = Field(validation_alias=AliasChoices("query_text", "query"))
    context: dict[str, Any]
    results: list[dict[str, Any]]
    requested_by: uuid.UUID | None
    created_at: datetime


class EvaluateRequest(Contract):
    probe_arguments: dict[str, Any] | None = Field(
        default=None, description="Arguments for a safe probe call (read-only tools only)."
    )
    probes: int = Field(default=3, ge=1, le=20)


class EvaluationOut(Contract):
    id: uuid.UUID
    tool_id: uuid.UUID
    usability: float
    performance: float
    compatibility: float
    security: float
    overall: float
    verdict: ToolVerdict
    details: dict[str, Any]
    evaluated_by: uuid.UUID | None
    created_at: datetime


class InvokeRequest(Contract):
    arguments: dict[str, Any] = Field(default_factory=dict)
    project_id: uuid.UUID | None = Field(
        default=None, description="The project whose workspace the call may touch."
    )
    agent_id: uuid.UUID | None = None
    timeout_seconds: Timeout | None = None


class InvokeResult(Contract):
    execution_id: uuid.UUID
    tool_id: uuid.UUID
    tool: str
    outcome: ToolExecutionOutcome
    output: Any
    is_error: bool
    error: str | None
    duration_ms: float
    truncated: bool


class ExecutionOut(Contract):
    id: uuid.UUID
    tool_id: uuid.UUID | None
    tool_name: str
    agent_id: uuid.UUID | None
    project_id: uuid.UUID | None
    user_id: uuid.UUID | None
    arguments_hash: str
    outcome: ToolExecutionOutcome
    error: str | None
    duration_ms: float
    output_bytes: int
    truncated: bool
    created_at: datetime


class UsageOut(Contract):
    tool_id: uuid.UUID
    agent_id: uuid.UUID | None
    calls: int
    successes: int
    failures: int
    mean_duration_ms: float | None
    last_used_at: datetime | None


class AgentToolBind(Contract):
    tool_id: uuid.UUID
    allowed: bool = True
    requires_approval: bool = Field(
        default=False, description="Every call by this agent needs a human's approval."
    )


class AgentToolOut(Contract):
    """A tool as one agent may use it: ``id`` is the tool's id; ``approval_policy`` is the
    effective one (the binding's ``requires_approval`` tightens the tool's own policy)."""

    id: uuid.UUID
    binding_id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    description: str
    input_schema: dict[str, Any]
    source: ToolSource
    status: ToolStatus
    approval_policy: ApprovalPolicy
    tool_approval_policy: ApprovalPolicy
    idempotent: bool
    allowed: bool
    requires_approval: bool
    created_at: datetime
