"""What a tool server offers, whatever it speaks: an MCP server's tools (with the policy their
hints allow) or a remote A2A agent's skills (each asks for approval: an agent acts), as the
registry rows a refresh creates or updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mcp_types
from a2a.types import AgentCard, AgentSkill

from berrys.services.tools import _a2a
from berrys.services.tools._mcp import McpFailure, McpPool, McpServerSpec
from berrys.services.tools.contracts import ApprovalPolicy, McpTransport, ToolSource


@dataclass(frozen=True, slots=True)
class Listed:
    """One tool as its server lists it: ``fields`` are what a refresh keeps up to date."""

    target: str
    fields: dict[str, Any]
    source: ToolSource
    policy: ApprovalPolicy
    idempotent: bool
    capabilities: list[str]
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Listing:
    tools: list[Listed]
    server_version: str | None
    protocol_version: str | None


class ListingFailure(Exception):
    """The server could not be listed; ``detail`` is its health's last error."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def list_server(spec: McpServerSpec, mcp: McpPool) -> Listing:
    """What the server offers now (an MCP server in ``mcp``'s sessions)."""
    try:
        if spec.transport == McpTransport.A2A:
            return _from_card(spec.name, await _a2a.fetch_card(spec))
        listed = await mcp.list_tools(spec)
    except McpFailure as exc:  # an A2A agent's failure included
        raise ListingFailure(exc.detail) from None
    health = mcp.health(spec.id)
    return Listing(
        tools=[_from_mcp(spec.name, tool, health.server_version) for tool in listed],
        server_version=health.server_version,
        protocol_version=health.protocol_version,
    )


def _from_mcp(server: str, tool: mcp_types.Tool, version: str | None) -> Listed:
    policy, idempotent = _policy_for(tool)
    annotations = (
        tool.annotations.model_dump(mode="json", exclude_none=True) if tool.annotations else {}
    )
    return Listed(
        target=tool.name,
        fields={
            "description": tool.description or tool.title or "",
            "input_schema": tool.input_schema or {"type": "object"},
            "output_schema": tool.output_schema,
            "version": version or "0.0.0",
        },
        source=ToolSource.MCP,
        policy=policy,
        idempotent=idempotent,
        capabilities=_capabilities_of(server, tool.name),
        metadata={"annotations": annotations, "title": tool.title},
    )


def _from_card(server: str, card: AgentCard) -> Listing:
    interfaces = list(card.supported_interfaces)
    return Listing(
        tools=[_from_skill(server, skill, card.version) for skill in card.skills],
        server_version=card.version or None,
        protocol_version=interfaces[0].protocol_version or None if interfaces else None,
    )


def _from_skill(server: str, skill: AgentSkill, version: str) -> Listed:
    """A skill: one message to the agent, asked for approval (it acts, and says nothing of
    being read-only or idempotent)."""
    description = f"{skill.name}: {skill.description}" if skill.name else skill.description
    return Listed(
        target=skill.id,
        fields={
            "description": description,
            "input_schema": _a2a.MESSAGE_SCHEMA,
            "output_schema": None,
            "version": version or "0.0.0",
        },
        source=ToolSource.A2A,
        policy=ApprovalPolicy.REQUIRES_APPROVAL,
        idempotent=False,
        capabilities=sorted(
            {*_capabilities_of(server, skill.id), *(tag.lower() for tag in skill.tags)}
        ),
        metadata={"title": skill.name, "examples": list(skill.examples)},
    )


def _policy_for(tool: mcp_types.Tool) -> tuple[ApprovalPolicy, bool]:
    """Read-only or explicitly non-destructive tools run unasked; the rest need approval."""
    hints = tool.annotations
    if hints is None:
        return ApprovalPolicy.REQUIRES_APPROVAL, False
    safe = bool(hints.read_only_hint) or hints.destructive_hint is False
    policy = ApprovalPolicy.AUTO if safe else ApprovalPolicy.REQUIRES_APPROVAL
    return policy, bool(hints.idempotent_hint or hints.read_only_hint)


def _capabilities_of(server: str, name: str) -> list[str]:
    words = {server.lower(), *name.lower().replace("-", "_").split("_")}
    return sorted(word for word in words if len(word) > 2 and word not in {"get", "the", "set"})
