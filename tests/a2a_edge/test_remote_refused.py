"""A remote A2A agent under the default egress policy: a loopback address is private, so
the agent is refused like an MCP server at such an address (503, its health says why)."""

from __future__ import annotations

from tests.a2a_edge.conftest import Served


async def test_a_private_address_is_refused_and_recorded(client, admin, served: Served) -> None:
    body = {"name": "private", "transport": "A2A", "url": served.server.url}
    created = await client.post("/api/v1/mcp-servers", json=body, headers=admin.headers)
    server_id = created.json()["id"]
    refreshed = await client.post(f"/api/v1/mcp-servers/{server_id}/refresh", headers=admin.headers)
    assert refreshed.status_code == 503, refreshed.text
    assert refreshed.json()["detail"].startswith("A2A agent 'private': ")
    shown = await client.get(f"/api/v1/mcp-servers/{server_id}", headers=admin.headers)
    assert shown.json()["healthy"] is False
    assert served.server.url in shown.json()["last_error"]
