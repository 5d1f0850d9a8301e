"""A stdio MCP server (official SDK) whose tool answers with the trace context its call
carried in ``_meta``: what a traced MCP server would continue its trace from."""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("traced", version="1.0.0")


@server.tool(annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True))
def traceparent(ctx: Context) -> str:
    """The W3C traceparent of this call's ``_meta`` (empty when there was none)."""
    meta = ctx.request_context.meta or {}
    return str(meta.get("traceparent", ""))


if __name__ == "__main__":
    server.run("stdio")
