"""A tool call to an MCP server carries the call's trace context (W3C ``traceparent`` in the
request's ``_meta``, as the MCP SDK sends it): the server's work joins the run's trace."""

from __future__ import annotations

import sys
from pathlib import Path

SERVER = {
    "transport": "STDIO",
    "command": sys.executable,
    "args": [str(Path(__file__).with_name("traced_server.py"))],
}


async def _traced_tool(client, admin) -> str:  # type: ignore[no-untyped-def]
    created = await client.post(
        "/api/v1/mcp-servers", json={"name": "traced", **SERVER}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    refreshed = await client.post(f"/api/v1/mcp-servers/{server_id}/refresh", headers=admin.headers)
    assert refreshed.json()["created"] == ["traced.traceparent"], refreshed.text
    listed = await client.get(
        "/api/v1/tools", params={"mcp_server_id": server_id}, headers=admin.headers
    )
    return listed.json()["items"][0]["id"]


async def _call(client, member, tool_id: str) -> str:  # type: ignore[no-untyped-def]
    called = await client.post(
        f"/api/v1/tools/{tool_id}/invoke", json={"arguments": {}}, headers=member.headers
    )
    assert called.status_code == 200, called.text
    return called.json()["output"]["content"][0]["text"]


async def test_an_mcp_call_carries_its_execute_tool_spans_trace(spans, client, admin, member):
    tool_id = await _traced_tool(client, admin)
    received = await _call(client, member, tool_id)

    recorded = spans.get_finished_spans()
    [tool] = [s for s in recorded if s.name == "execute_tool traced.traceparent"]
    assert tool.attributes["gen_ai.tool.type"] == "extension"
    version, trace_id, parent_id, flags = received.split("-")
    assert (version, flags) == ("00", "01")
    assert trace_id == f"{tool.context.trace_id:032x}"
    # The server's parent: the SDK's client span of the request, inside the tool's span.
    [sent] = [s for s in recorded if f"{s.context.span_id:016x}" == parent_id]
    assert sent.parent.span_id == tool.context.span_id
