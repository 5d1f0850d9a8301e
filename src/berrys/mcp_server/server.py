"""The Berrys MCP server: its tools and resources, given the ``Edge`` (services and caller)
the transport provides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from pydantic import TypeAdapter

from berrys import __version__
from berrys.mcp_server import resources
from berrys.mcp_server.edge import Edge, lifespan
from berrys.mcp_server.tools import TOOLS

INSTRUCTIONS = (
    "Berrys turns a description into a project with a team of AI agents, a plan and a "
    "durable run. Typical use: create_project, generate_team, create_plan, start_run, then "
    "run_status until the run ends; answer what list_interactions shows is waiting for you; "
    "read what the run produced with list_artifacts and read_artifact."
)


def build(edge: Edge) -> MCPServer[Edge]:
    """A server whose every tool and resource acts for the user ``edge`` says is calling."""
    server: MCPServer[Edge] = MCPServer(
        "berrys",
        title="Berrys",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan(edge),
        tools=[_tool(function) for function in TOOLS],
    )
    resources.register(server)
    return server


def _tool(function: Callable[..., Any]) -> Tool:
    """The tool, its output schema describing the JSON it returns (a contract as REST
    serialises it) where the SDK's would describe what the contract accepts: they differ
    where a field is read from another name (a project's ``metadata``)."""
    tool = Tool.from_function(function)
    returned = tool.fn_metadata.output_model
    if returned is not None:
        tool.fn_metadata.output_schema = TypeAdapter(returned).json_schema(mode="serialization")
    return tool
