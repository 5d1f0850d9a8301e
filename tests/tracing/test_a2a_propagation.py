"""A tool call to a remote A2A agent carries the call's trace context (a W3C ``traceparent``
header on its requests), so the agent's work joins the run's trace; the agent here is a
loopback server that answers with the SDK's own types and records what it received."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.types import Artifact, Part, SendMessageResponse, Task, TaskState, TaskStatus
from google.protobuf.json_format import MessageToDict

from berrys.a2a_server.card import agent_card
from berrys.config import Settings


class _Agent(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None]]

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, self.headers.get("traceparent")))
        host = self.headers["Host"]
        self._answer(agent_card_to_dict(agent_card(f"http://{host}")))

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(("POST", body["method"], self.headers.get("traceparent")))
        task = Task(
            id="remote-1",
            context_id="ctx-1",
            status=TaskStatus(state=TaskState.TASK_STATE_COMPLETED),
            artifacts=[Artifact(artifact_id="a1", name="plan.md", parts=[Part(text="# Plan")])],
        )
        result = MessageToDict(SendMessageResponse(task=task))
        self._answer({"jsonrpc": "2.0", "id": body["id"], "result": result})

    def _answer(self, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def services_settings(settings: Settings) -> Settings:
    """Loopback is private: the egress policy lets these tests reach 127.0.0.1 only."""
    return settings.model_copy(
        update={"tools_fetch_allowed_hosts": ["127.0.0.1"], "tools_fetch_allow_private": True}
    )


@pytest.fixture
def remote_agent() -> Iterator[tuple[str, list[tuple[str, str, str | None]]]]:
    seen: list[tuple[str, str, str | None]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Agent", (_Agent,), {"seen": seen}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


async def test_an_a2a_call_carries_its_execute_tool_spans_trace(
    spans, client, admin, member, remote_agent
) -> None:
    url, seen = remote_agent
    created = await client.post(
        "/api/v1/mcp-servers",
        json={"name": "remote", "transport": "A2A", "url": url},
        headers=admin.headers,
    )
    server_id = created.json()["id"]
    refreshed = await client.post(f"/api/v1/mcp-servers/{server_id}/refresh", headers=admin.headers)
    assert "remote.run_project" in refreshed.json()["created"], refreshed.text
    listed = await client.get(
        "/api/v1/tools", params={"mcp_server_id": server_id}, headers=admin.headers
    )
    [tool] = [t for t in listed.json()["items"] if t["name"] == "remote.run_project"]
    # Asked for approval by default; here a person has let it run unasked.
    allowed = await client.patch(
        f"/api/v1/tools/{tool['id']}", json={"approval_policy": "AUTO"}, headers=admin.headers
    )
    assert allowed.status_code == 200, allowed.text
    called = await client.post(
        f"/api/v1/tools/{tool['id']}/invoke",
        json={"arguments": {"message": "Plan a launch"}},
        headers=member.headers,
    )
    assert called.status_code == 200, called.text
    output = called.json()["output"]
    assert output["state"] == "TASK_STATE_COMPLETED"
    assert output["artifacts"] == [{"name": "plan.md", "text": "# Plan"}]

    [executed] = [
        s for s in spans.get_finished_spans() if s.name == "execute_tool remote.run_project"
    ]
    sent = [traceparent for method, _, traceparent in seen if method == "POST"]
    assert [entry[1] for entry in seen if entry[0] == "POST"] == ["SendMessage"]
    version, trace_id, _, flags = (sent[0] or "").split("-")
    assert (version, flags) == ("00", "01")
    assert trace_id == f"{executed.context.trace_id:032x}"
