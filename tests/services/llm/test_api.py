"""REST: chat with fallback and its usage, the registry, budgets, streaming, secrets."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from berrys.services.llm import _runtime
from berrys.services.llm import service as llm

CHAT = "/api/v1/models/chat"
HELLO = {"messages": [{"role": "user", "content": "Say hello to the tea shop team."}]}


async def _project(client: httpx.AsyncClient, actor) -> str:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/projects", json={"name": "Tea shop"}, headers=actor.headers
    )
    assert response.status_code == 201
    return response.json()["id"]


async def test_chat_falls_back_and_usage_shows_both_attempts(
    client: httpx.AsyncClient, member, llm_runtime: _runtime.Runtime
) -> None:
    with (
        llm.script(
            llm_runtime,
            "flaky",
            [{"error": "server_error", "status": 502}],
            quality=9,
            input_price_per_million=1.0,
            is_local=False,
        ),
        llm.script(
            llm_runtime,
            "good",
            ["Hello, team!"],
            quality=8,
            input_price_per_million=2.0,
            output_price_per_million=4.0,
        ),
    ):
        response = await client.post(CHAT, json=HELLO, headers=member.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["content"], body["model"], body["provider"]) == (
        "Hello, team!",
        "good",
        "SCRIPTED",
    )
    assert body["fallback"] is True
    assert [(a["model"], a["outcome"]) for a in body["attempts"]] == [
        ("flaky", "SERVER_ERROR"),
        ("good", "SUCCESS"),
    ]
    assert body["usage"]["cost_usd"] > 0

    usage = (await client.get("/api/v1/models/usage", headers=member.headers)).json()
    assert usage["total"]["requests"] == 2
    assert usage["total"]["failures"] == 1
    assert usage["total"]["cost_usd"] == pytest.approx(body["usage"]["cost_usd"])
    by_model = {group["key"]: group for group in usage["by_model"]}
    assert by_model["flaky"]["failures"] == 1
    assert by_model["good"]["cost_usd"] == pytest.approx(body["usage"]["cost_usd"])
    assert [(r["model_name"], r["outcome"]) for r in usage["requests"]] == [
        ("good", "SUCCESS"),
        ("flaky", "SERVER_ERROR"),
    ]
    assert "best of" in usage["requests"][1]["route_reason"]
    for params, requests in (
        ({"model": "good"}, 1),
        ({"since": "2999-01-01T00:00:00Z"}, 0),
        ({"until": "2999-01-01T00:00:00Z"}, 2),
    ):
        filtered = await client.get("/api/v1/models/usage", params=params, headers=member.headers)
        assert filtered.json()["total"]["requests"] == requests, params


async def test_usage_is_private_to_its_users(
    client: httpx.AsyncClient, member, other_member, admin, llm_runtime: _runtime.Runtime
) -> None:
    with llm.script(llm_runtime, "good", ["one"]):
        assert (await client.post(CHAT, json=HELLO, headers=member.headers)).status_code == 200
    other = (await client.get("/api/v1/models/usage", headers=other_member.headers)).json()
    assert other["total"]["requests"] == 0
    everyone = (await client.get("/api/v1/models/usage", headers=admin.headers)).json()
    assert everyone["total"]["requests"] == 1


async def test_chat_streams_server_sent_events(
    client: httpx.AsyncClient, member, llm_runtime: _runtime.Runtime
) -> None:
    with llm.script(llm_runtime, "good", ["streamed hello"]):
        response = await client.post(CHAT, json={**HELLO, "stream": True}, headers=member.headers)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.split("\n\n") if block]
    assert events[0] == 'data: {"delta": "streamed hello"}'
    assert events[-1].startswith("event: done")
    done = json.loads(events[-1].split("data: ", 1)[1])
    assert done["model"] == "good"


async def test_structured_chat_with_a_json_schema(
    client: httpx.AsyncClient, member, llm_runtime: _runtime.Runtime
) -> None:
    schema = {
        "type": "object",
        "properties": {"greeting": {"type": "string"}},
        "required": ["greeting"],
    }
    with llm.script(llm_runtime, "good", ['{"greeting": 1}', '{"greeting": "hi"}']):
        response = await client.post(
            CHAT, json={**HELLO, "response_schema": schema}, headers=member.headers
        )
    body = response.json()
    assert body["parsed"] == {"greeting": "hi"}
    assert [a["outcome"] for a in body["attempts"]] == ["INVALID_OUTPUT", "SUCCESS"]


async def test_registry_crud_and_roles(
    client: httpx.AsyncClient, admin, member, llm_runtime: _runtime.Runtime
) -> None:
    listed = (await client.get("/api/v1/models", headers=member.headers)).json()
    assert ("RULES", "rules") in {(m["provider"], m["name"]) for m in listed["items"]}
    new = {
        "provider": "OPENAI",
        "name": "gpt-4o-mini",
        "capabilities": ["CHAT", "TOOLS", "STRUCTURED_OUTPUT"],
        "context_window": 128000,
        "input_price_per_million": 0.15,
        "output_price_per_million": 0.6,
    }
    assert (
        await client.post("/api/v1/models", json=new, headers=member.headers)
    ).status_code == 403
    created = await client.post("/api/v1/models", json=new, headers=admin.headers)
    assert created.status_code == 201
    model_id = created.json()["id"]
    again = await client.post("/api/v1/models", json=new, headers=admin.headers)
    assert again.status_code == 409
    patched = await client.patch(
        f"/api/v1/models/{model_id}",
        json={"enabled": False, "quality": {"team": 9}},
        headers=admin.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["quality"] == {"TEAM": 9}
    assert patched.json()["enabled"] is False
    feedback = await client.post(
        f"/api/v1/models/{model_id}/feedback", json={"score": 1}, headers=member.headers
    )
    assert feedback.json()["feedback_score"] > 0
    assert (
        await client.delete(f"/api/v1/models/{model_id}", headers=admin.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/models/{model_id}", headers=member.headers)
    ).status_code == 404


async def test_project_budget_refuses_before_spending(
    client: httpx.AsyncClient, member, other_member, llm_runtime: _runtime.Runtime
) -> None:
    project_id = await _project(client, member)
    budget = {"scope": "PROJECT", "project_id": project_id, "limit_usd": 0.001}
    refused = await client.put("/api/v1/models/budgets", json=budget, headers=other_member.headers)
    assert refused.status_code == 404
    set_ = await client.put("/api/v1/models/budgets", json=budget, headers=member.headers)
    assert set_.status_code == 200, set_.text
    costly = {"usage": {"prompt_tokens": 1000, "completion_tokens": 0}, "content": "pricey"}
    with llm.script(llm_runtime, "costly", [costly, costly], input_price_per_million=2.0) as model:
        first = await client.post(
            CHAT, json={**HELLO, "project_id": project_id}, headers=member.headers
        )
        assert first.status_code == 200  # $0.002 spent: over the limit now
        second = await client.post(
            CHAT, json={**HELLO, "project_id": project_id}, headers=member.headers
        )
        assert second.status_code == 402
        assert "budget is spent" in second.json()["detail"]
        assert model.remaining == 1  # refused before the model was called
    budgets = (await client.get("/api/v1/models/budgets", headers=member.headers)).json()
    assert budgets[0]["spent_usd"] == pytest.approx(0.002)


async def test_agent_budget_skips_models_it_cannot_afford(
    client: httpx.AsyncClient, admin, member, llm_runtime: _runtime.Runtime
) -> None:
    agent_id = await _agent(client, member, await _project(client, member))
    budget = {"scope": "AGENT", "agent_id": agent_id, "limit_usd": 0.01}
    forbidden = await client.put("/api/v1/models/budgets", json=budget, headers=member.headers)
    assert forbidden.status_code == 403
    assert (
        await client.put("/api/v1/models/budgets", json=budget, headers=admin.headers)
    ).status_code == 200
    with (
        llm.script(
            llm_runtime, "dear", ["never"], quality=9, input_price_per_million=100_000.0
        ) as dear,
        llm.script(llm_runtime, "cheap", ["fine"], quality=5),
    ):
        response = await client.post(
            CHAT, json={**HELLO, "agent_id": agent_id}, headers=member.headers
        )
    body = response.json()
    assert body["model"] == "cheap"
    assert "dear: would exceed the agent" in body["reason"]
    assert dear.remaining == 1


async def test_provider_daily_quota(
    client: httpx.AsyncClient, admin, member, llm_runtime: _runtime.Runtime
) -> None:
    quota = {"scope": "PROVIDER", "provider": "SCRIPTED", "period": "DAILY", "limit_tokens": 50}
    assert (
        await client.put("/api/v1/models/budgets", json=quota, headers=admin.headers)
    ).status_code == 200
    with llm.script(llm_runtime, "good", ["a", "b"]) as model:
        response = await client.post(CHAT, json=HELLO, headers=member.headers)
    assert response.status_code == 402  # every eligible model would exceed the quota
    assert "token limit" in response.json()["detail"]
    assert model.remaining == 2


class _EchoKeyHandler(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that rejects the key and quotes it back, as OpenAI does."""

    def do_POST(self) -> None:
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        body = json.dumps(
            {"error": {"message": f"Incorrect API key provided: {key}", "code": "invalid_api_key"}}
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoKeyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


async def test_api_key_never_appears_in_logs_rows_or_responses(
    client: httpx.AsyncClient,
    admin,
    member,
    database,
    llm_settings,
    echo_server: str,
    capsys: pytest.CaptureFixture[str],
    serve_with,
) -> None:
    secret = "sk-test-DO-NOT-LEAK-0123456789abcdef"
    settings = llm_settings.model_copy(
        update={
            "openai_api_key": SecretStr(secret),
            "openai_base_url": echo_server,
            "openai_models": ["echo-model"],
            "log_level": "DEBUG",
        }
    )
    served = serve_with(settings)
    assert secret not in repr(settings)
    with llm.script(served.models, "backup", ["still here"], quality=1):
        response = await client.post(
            CHAT, json={**HELLO, "model": "echo-model"}, headers=member.headers
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [a["outcome"] for a in body["attempts"]] == ["ERROR", "SUCCESS"]
    texts = [response.text]
    for path in ("/api/v1/models", "/api/v1/models/usage", "/api/v1/audit"):
        texts.append((await client.get(path, headers=admin.headers)).text)
    from berrys.services.llm.tables import ModelRequest

    async with database.transaction(read_only=True) as session:
        details = [row.error_detail or "" for row in await session.scalars(select(ModelRequest))]
    assert any("Incorrect API key provided: ***" in d for d in details)
    texts += details
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    for text in texts:
        assert secret not in text
        assert secret[:12] not in text


async def test_stream_respects_budgets(
    client: httpx.AsyncClient, database, member, llm_runtime: _runtime.Runtime
) -> None:
    from berrys.core.errors import BudgetExceeded
    from berrys.services.llm.contracts import ChatMessage, CompletionRequest

    project_id = await _project(client, member)
    budget = {"scope": "PROJECT", "project_id": project_id, "limit_usd": 0.000001}
    assert (
        await client.put("/api/v1/models/budgets", json=budget, headers=member.headers)
    ).status_code == 200
    request = CompletionRequest(
        messages=[ChatMessage(role="user", content="Tell me a long story.")],
        project_id=uuid.UUID(project_id),
    )
    with llm.script(llm_runtime, "pricey", ["never"], input_price_per_million=50.0) as model:
        with pytest.raises(BudgetExceeded, match="would exceed the project"):
            async for _ in llm.stream(llm_runtime, database, request):
                pass
        assert model.remaining == 1


async def _agent(client: httpx.AsyncClient, actor, project_id: str) -> str:  # type: ignore[no-untyped-def]
    response = await client.post(
        f"/api/v1/projects/{project_id}/agents",
        json={"name": "Barista", "agent_type": "ASSISTANT"},
        headers=actor.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_chat_for_someone_elses_agent_is_404_and_charges_nothing(
    client: httpx.AsyncClient, admin, member, llm_runtime: _runtime.Runtime
) -> None:
    """An agent id is checked like a project id: usage and budgets are never charged to an
    agent whose project the caller cannot see."""
    theirs = await _agent(client, admin, await _project(client, admin))
    with llm.script(llm_runtime, "good", ["never"]) as model:
        foreign = await client.post(
            CHAT, json={**HELLO, "agent_id": theirs}, headers=member.headers
        )
        missing = await client.post(
            CHAT, json={**HELLO, "agent_id": str(uuid.uuid4())}, headers=member.headers
        )
        assert model.remaining == 1
    for response in (foreign, missing):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
    charged = await client.get(
        "/api/v1/models/usage", params={"agent_id": theirs}, headers=admin.headers
    )
    assert charged.json()["total"]["requests"] == 0


async def test_chat_for_an_agent_is_charged_to_it_and_its_project(
    client: httpx.AsyncClient, member, llm_runtime: _runtime.Runtime
) -> None:
    project_id = await _project(client, member)
    agent_id = await _agent(client, member, project_id)
    with llm.script(llm_runtime, "good", ["Hello!"]):
        response = await client.post(
            CHAT, json={**HELLO, "agent_id": agent_id}, headers=member.headers
        )
    assert response.status_code == 200, response.text
    usage = await client.get(
        "/api/v1/models/usage", params={"project_id": project_id}, headers=member.headers
    )
    assert {group["key"] for group in usage.json()["by_agent"]} == {agent_id}
    other = await _project(client, member)
    mismatched = await client.post(
        CHAT, json={**HELLO, "agent_id": agent_id, "project_id": other}, headers=member.headers
    )
    assert mismatched.status_code == 422, mismatched.text
    assert "belongs to project" in mismatched.json()["detail"]


async def test_a_scripted_model_cannot_be_registered_over_rest(
    client: httpx.AsyncClient, admin, llm_runtime: _runtime.Runtime
) -> None:
    response = await client.post(
        "/api/v1/models", json={"provider": "SCRIPTED", "name": "ghost"}, headers=admin.headers
    )
    assert response.status_code == 422, response.text
    assert "llm.script" in response.json()["detail"]
    listed = await client.get(
        "/api/v1/models", params={"provider": "SCRIPTED"}, headers=admin.headers
    )
    assert listed.json()["total"] == 0


async def test_a_scripted_row_without_a_script_never_takes_part_in_routing(
    database, llm_runtime: _runtime.Runtime
) -> None:
    """A SCRIPTED row left in the registry (registered before REST refused them) has no
    script to answer with: routing passes it by, and RULES still answers."""
    from berrys.services.llm.contracts import (
        ChatMessage,
        CompletionRequest,
        ModelProvider,
        ModelTaskType,
    )
    from berrys.services.llm.tables import LlmModel

    async with database.transaction() as session:
        session.add(
            LlmModel(
                provider=ModelProvider.SCRIPTED,
                name="ghost",
                capabilities=["CHAT"],
                quality={"GENERAL": 10},
            )
        )
    llm_runtime.forget_registry()
    request = CompletionRequest(
        messages=[ChatMessage(role="user", content="Name the tea shop.")],
        task_type=ModelTaskType.GENERAL,
        rules=lambda: "The Tea Shop",
    )
    result = await llm.complete(llm_runtime, database, request)
    assert (result.content, result.from_rules) == ("The Tea Shop", True)
    assert all(attempt.model != "ghost" for attempt in result.attempts)
    with llm.script(
        llm_runtime, "ghost", ["scripted after all"]
    ):  # a script makes it a model again
        assert (await llm.complete(llm_runtime, database, request)).model == "ghost"
