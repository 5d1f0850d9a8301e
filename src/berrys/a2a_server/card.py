"""Berrys' A2A agent card: what it does (its skills), where its JSON-RPC endpoint is (the
public URL setting, else the URL the request came to) and how to authenticate (a Berrys API
token as a bearer token)."""

from __future__ import annotations

from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import PROTOCOL_VERSION_1_0, TransportProtocol

from berrys import __version__

RPC_PATH = "/a2a"
BEARER = "bearer"

_RUN_A_PROJECT = AgentSkill(
    id="run_project",
    name="Run a project",
    description=(
        "Send a project's description as a text message: Berrys creates the project, staffs "
        "a team of agents, plans the work and runs it; follow the task to its deliverables "
        "(artifacts, Markdown). When the run asks a person (an approval, a question) the task "
        "is input-required: reply on the task with 'approve' or 'reject' and a comment, or "
        "your answer. Message metadata: require_plan_approval (bool), budget_usd (number)."
    ),
    tags=["projects", "planning", "multi-agent"],
    examples=["Plan a two-day team offsite for 20 people in Lisbon in May"],
    input_modes=["text/plain"],
    output_modes=["text/markdown", "text/plain"],
)
_PROJECT_STATUS = AgentSkill(
    id="project_status",
    name="Project status",
    description=(
        "Get a task (tasks/get) or subscribe to it: the run's state, what it waits for, its "
        "deliverables so far; list a project's runs with its context id."
    ),
    tags=["status"],
    input_modes=["text/plain"],
    output_modes=["text/plain"],
)


def agent_card(base_url: str) -> AgentCard:
    """The card with its endpoint under ``base_url`` (no trailing slash)."""
    return AgentCard(
        name="Berrys",
        description=(
            "An open, self-hostable multi-agent platform: describe a project, get a team of AI "
            "agents, a plan and a durable, audited run that produces its deliverables."
        ),
        version=__version__,
        provider=AgentProvider(organization="Berrys", url=base_url),
        supported_interfaces=[
            AgentInterface(
                url=f"{base_url}{RPC_PATH}",
                protocol_binding=TransportProtocol.JSONRPC.value,
                protocol_version=PROTOCOL_VERSION_1_0,
            )
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        security_schemes={
            BEARER: SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="Bearer",
                    description="A Berrys API token (`berrys token create`, or the dashboard).",
                )
            )
        },
        security_requirements=[SecurityRequirement(schemes={BEARER: StringList()})],
        default_input_modes=["text/plain"],
        default_output_modes=["text/markdown", "text/plain"],
        skills=[_RUN_A_PROJECT, _PROJECT_STATUS],
    )
