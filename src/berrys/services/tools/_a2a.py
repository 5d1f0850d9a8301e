"""Remote A2A agents as tools: the agent's card read (its skills become the tools of its
server row, transport A2A), and a call sent as one A2A message whose reply (the task's
state, status message and artifacts) is the tool's output. Every URL, the card's endpoint
included, passes the tools' egress policy; calls carry the trace context (``traceparent``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import AgentCard, Message, Part, Role, SendMessageRequest, StreamResponse, TaskState
from a2a.utils.errors import A2AError

from berrys.core import tracing
from berrys.core.errors import BerrysError
from berrys.services.tools._egress import check as egress_check
from berrys.services.tools._mcp import McpFailure, McpServerSpec

# What every skill of a remote agent takes: the message to send it.
MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100_000,
            "description": "What to ask the agent, as a text message.",
        }
    },
    "required": ["message"],
    "additionalProperties": False,
}
_FAILED = frozenset(
    {TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED}
)


class A2aFailure(McpFailure):
    """The agent could not be reached or did not answer within the time allowed (handled
    where a tool server's failure is: the call's log, the server's health)."""

    kind = "A2A agent"


@asynccontextmanager
async def _http(spec: McpServerSpec) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with the agent's headers and the current trace context, once the URL
    passed the egress policy."""
    if not spec.url:
        raise A2aFailure(spec.name, "an A2A agent needs a url")
    if spec.credentials_error:
        raise A2aFailure(spec.name, spec.credentials_error)
    await _allowed(spec, spec.url)
    headers = {**dict(spec.headers), **tracing.headers()}
    async with httpx.AsyncClient(headers=headers, timeout=spec.timeout_seconds) as http:
        yield http


async def _card(spec: McpServerSpec, http: httpx.AsyncClient) -> AgentCard:
    try:
        card = await A2ACardResolver(http, spec.url or "").get_agent_card()
    except (A2AError, httpx.HTTPError) as exc:
        raise A2aFailure(spec.name, f"its agent card could not be read: {exc}") from None
    for interface in card.supported_interfaces:  # it may name an endpoint on another host
        await _allowed(spec, interface.url)
    return card


async def _allowed(spec: McpServerSpec, url: str) -> None:
    """The egress policy's verdict on ``url``; a refusal fails the agent as a connection
    would, as an MCP server's does (its health says why)."""
    if spec.settings is None:
        return
    try:
        await egress_check(url, spec.settings)
    except BerrysError as exc:
        raise A2aFailure(spec.name, f"{url}: {exc.detail}") from None


async def fetch_card(spec: McpServerSpec) -> AgentCard:
    """The agent's card from ``<url>/.well-known/agent-card.json``."""
    async with _http(spec) as http:
        return await _card(spec, http)


async def send(
    spec: McpServerSpec, skill: str, arguments: dict[str, Any], *, timeout_seconds: float
) -> tuple[dict[str, Any], bool, str | None]:
    """Send ``arguments['message']`` to the agent (for its skill ``skill``) and wait for its
    reply: the output, whether it is an error, and the error's text."""
    text = str(arguments.get("message", "")).strip()
    message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)])
    message.metadata.update({"skill": skill})
    reply: StreamResponse | None = None
    try:
        async with _http(spec) as http, asyncio.timeout(timeout_seconds):
            card = await _card(spec, http)
            client = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
            async for event in client.send_message(SendMessageRequest(message=message)):
                reply = event
    except TimeoutError:
        raise A2aFailure(
            spec.name, f"no reply within {timeout_seconds:g}s", timed_out=True
        ) from None
    except (A2AError, httpx.HTTPError) as exc:
        raise A2aFailure(spec.name, str(exc) or type(exc).__name__) from None
    if reply is None:
        raise A2aFailure(spec.name, "the agent sent no reply")
    return rendered(reply)


def rendered(reply: StreamResponse) -> tuple[dict[str, Any], bool, str | None]:
    """A reply as the tool's output: a message's text, or the task's state, status message
    and artifacts (each with its name and text)."""
    if reply.HasField("message"):
        return {"reply": _text(reply.message)}, False, None
    task = reply.task
    status = _text(task.status.message)
    state = TaskState.Name(task.status.state)
    output: dict[str, Any] = {
        "task_id": task.id,
        "context_id": task.context_id,
        "state": state,
        "status": status,
        "artifacts": [
            {"name": artifact.name, "text": "\n".join(p.text for p in artifact.parts if p.text)}
            for artifact in task.artifacts
        ],
    }
    failed = task.status.state in _FAILED
    return output, failed, (status or state) if failed else None


def _text(message: Message) -> str:
    return "\n".join(part.text for part in message.parts if part.text).strip()
