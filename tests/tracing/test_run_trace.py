"""A run is one trace: its workflow span the root, each task's ``invoke_agent`` span under
it, and the task's model calls (``chat``) and tool calls (``execute_tool``) under the task,
named and described by the OpenTelemetry GenAI semantic conventions."""

from __future__ import annotations

from opentelemetry.trace import StatusCode
from tests.services.pipeline.test_agent_executor import _agent, _bind_write_tool, _user
from tests.services.runs.conftest import create_run, deps, wait_for_status

from berrys.services.llm import service as llm
from berrys.services.llm.contracts import ChatMessage, CompletionRequest
from berrys.services.pipeline._executor import AgentExecutor
from berrys.services.runs.contracts import RunStatus, TaskSpec

OP = "gen_ai.operation.name"


def _answer(content: str, prompt_tokens: int, completion_tokens: int, **extra):  # type: ignore[no-untyped-def]
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    return {"content": content, "usage": usage, **extra}


SCRIPT = [
    _answer(
        "",
        120,
        9,
        tool_calls=[
            {
                "id": "c1",
                "name": "workspace.write_file",
                "arguments": {"path": "notes.md", "content": "bakery notes"},
            }
        ],
    ),
    _answer("# Menu\n- Sourdough", 150, 30),
    _answer("# Opening plan\n- Saturday", 90, 20),
]


async def _run_two_tasks(services, database, client, member, project, start_worker):  # type: ignore[no-untyped-def]
    agent = await _agent(client, member, project.id)
    user = await _user(database, member)
    await _bind_write_tool(database, user, agent["id"])
    specs = [
        TaskSpec(key="menu", name="Write the menu", agent_id=agent["id"]),
        TaskSpec(key="opening", name="Plan the opening", agent_id=agent["id"]),
    ]
    with llm.script(services.models, "fake", SCRIPT):
        run = await create_run(database, project, specs, deps("menu>opening"), actor_id=user.id)
        start_worker(
            AgentExecutor(
                settings=services.settings,
                database=database,
                models=services.models,
                tools=services.tools,
            )
        )
        return await wait_for_status(database, run.id, RunStatus.COMPLETED), agent["id"]


async def test_a_run_is_one_trace_of_workflow_tasks_model_and_tool_calls(
    spans, services, database, client, member, project, start_worker
):
    run, agent_id = await _run_two_tasks(services, database, client, member, project, start_worker)
    recorded = spans.get_finished_spans()
    [workflow] = [s for s in recorded if s.attributes.get(OP) == "invoke_workflow"]
    assert workflow.parent is None
    assert workflow.name == "invoke_workflow berrys.run"
    assert workflow.attributes["berrys.run.id"] == str(run.id)
    assert workflow.attributes["berrys.run.status"] == "COMPLETED"
    assert workflow.attributes["berrys.tokens"] == 120 + 9 + 150 + 30 + 90 + 20
    trace_id = workflow.context.trace_id
    # The run keeps its trace: the workflow span's ids are the ones stored with it.
    assert run.options["traceparent"] == (f"00-{trace_id:032x}-{workflow.context.span_id:016x}-01")
    in_run = [s for s in recorded if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_run}

    tasks = [s for s in in_run if s.attributes.get(OP) == "invoke_agent"]
    assert sorted(s.attributes["berrys.task.name"] for s in tasks) == [
        "Plan the opening",
        "Write the menu",
    ]
    for task in tasks:
        assert task.parent.span_id == workflow.context.span_id
        assert task.name == "invoke_agent Writer"
        assert task.attributes["gen_ai.agent.name"] == "Writer"
        assert task.attributes["gen_ai.agent.id"] == str(agent_id)
        assert task.status.is_ok

    chats = [s for s in in_run if s.attributes.get(OP) == "chat"]
    assert len(chats) == 3
    for chat in chats:
        assert by_id[chat.parent.span_id].attributes[OP] == "invoke_agent"
        assert chat.name == "chat fake"
        assert chat.attributes["gen_ai.provider.name"] == "berrys.scripted"
        assert chat.attributes["gen_ai.request.model"] == "fake"
        assert chat.attributes["gen_ai.response.model"] == "fake"
    usage = sorted(
        (c.attributes["gen_ai.usage.input_tokens"], c.attributes["gen_ai.usage.output_tokens"])
        for c in chats
    )
    assert usage == [(90, 20), (120, 9), (150, 30)]
    assert all("berrys.cost_usd" in c.attributes for c in chats)

    [tool] = [s for s in in_run if s.attributes.get(OP) == "execute_tool"]
    menu = by_id[tool.parent.span_id]
    assert menu.attributes["berrys.task.name"] == "Write the menu"
    assert tool.name == "execute_tool workspace.write_file"
    assert tool.attributes["gen_ai.tool.name"] == "workspace.write_file"
    assert tool.attributes["gen_ai.tool.call.id"] == "c1"
    assert tool.attributes["gen_ai.tool.type"] == "function"
    assert tool.status.is_ok
    # Nothing of the run is outside its trace.
    run_id = str(run.id)
    assert all(
        s.context.trace_id == trace_id
        for s in recorded
        if s.attributes.get("berrys.run.id") == run_id
    )


async def test_each_attempt_is_a_chat_span_and_a_fallback_shows_the_failure(
    spans, models, database
):
    request = CompletionRequest(messages=[ChatMessage(role="user", content="Two plus two?")])
    with (
        llm.script(models, "primary", [{"error": "server_error", "status": 503}], quality=9),
        llm.script(models, "backup", [_answer("4", 12, 1)], quality=8),
    ):
        result = await llm.complete(models, database, request)
    assert (result.model, result.fallback) == ("backup", True)
    first, second = sorted(
        (s for s in spans.get_finished_spans() if s.attributes.get(OP) == "chat"),
        key=lambda s: s.start_time,
    )
    assert first.name == "chat primary"
    assert first.attributes["error.type"] == "ServerError"
    assert first.status.status_code == StatusCode.ERROR
    assert first.attributes["berrys.attempt"] == 1
    assert second.name == "chat backup"
    assert second.status.is_ok
    assert second.attributes["berrys.attempt"] == 2
    assert second.attributes["gen_ai.usage.input_tokens"] == 12
    assert second.attributes["gen_ai.usage.output_tokens"] == 1


async def test_a_streamed_answer_is_a_chat_span_per_attempt_too(spans, models, database):
    request = CompletionRequest(messages=[ChatMessage(role="user", content="Two plus two?")])
    with (
        llm.script(models, "down", [{"error": "connection"}], quality=9),
        llm.script(models, "up", [_answer("four", 7, 2)], quality=8),
    ):
        chunks = [chunk async for chunk in llm.stream(models, database, request)]
    assert chunks[-1].done
    down, up = sorted(
        (s for s in spans.get_finished_spans() if s.attributes.get(OP) == "chat"),
        key=lambda s: s.start_time,
    )
    assert (down.name, down.attributes["error.type"]) == ("chat down", "ConnectionFailed")
    assert up.name == "chat up"
    assert up.status.is_ok
    assert up.attributes["gen_ai.usage.output_tokens"] >= 1
    assert up.end_time >= up.start_time


async def test_generating_a_plan_is_a_plan_span_over_its_model_calls(spans, client, member):
    created = await client.post(
        "/api/v1/projects",
        json={"name": "Bakery site", "description": "Build an online shop for a bakery."},
        headers=member.headers,
    )
    project_id = created.json()["id"]
    await _agent(client, member, project_id, name="Dev", agent_type="DEVELOPER")
    response = await client.post(
        f"/api/v1/projects/{project_id}/plans", json={}, headers=member.headers
    )
    assert response.status_code == 201, response.text
    recorded = spans.get_finished_spans()
    [plan] = [s for s in recorded if s.attributes.get(OP) == "plan"]
    assert plan.name == "plan"
    assert plan.attributes["berrys.project.id"] == project_id
    assert plan.attributes["berrys.plan.id"] == response.json()["id"]
    chats = [s for s in recorded if s.attributes.get(OP) == "chat"]
    assert chats, "the draft is asked of a model (RULES when none is configured)"
    assert all(c.parent.span_id == plan.context.span_id for c in chats)
