"""A run as an AG-UI event stream over REST, in process: the real agent executor on a worker,
scripted models answering; every event read back with the ag-ui-protocol package's models.
The sequence of a whole run, an approval as an interrupt answered through the AG-UI agent
endpoint, resuming by Last-Event-ID, a project started from a description, and refusals."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jsonpatch
import pytest
from ag_ui.core import Event, EventType, RunAgentInput
from pydantic import TypeAdapter
from tests.services.runs.conftest import create_run, deps, wait_for_status

from berrys.services.audit import service as audit
from berrys.services.auth import service as auth
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionStatus
from berrys.services.llm import service as llm
from berrys.services.pipeline._executor import AgentExecutor
from berrys.services.runs.contracts import RunStatus, TaskSpec
from berrys.services.tools import service as tools
from berrys.services.tools.contracts import AgentToolBind

EVENTS = TypeAdapter(Event)
E = EventType


@pytest.fixture
def services_settings(settings):  # type: ignore[no-untyped-def]
    """The hashing embedder: the pipeline discovers tools by meaning, and the bundled model
    takes seconds for it on two cores."""
    return settings.model_copy(update={"embedding_model": "hashing"})


@pytest.fixture
def agents_worker(services, database, settings, start_worker):  # type: ignore[no-untyped-def]
    """Start a worker whose tasks the agents carry out."""

    def _start() -> None:
        start_worker(
            AgentExecutor(
                settings=settings, database=database, models=services.models, tools=services.tools
            )
        )

    return _start


async def _writer(client, database, member, project_id, *, approval: bool) -> uuid.UUID:
    """An agent of the project that may write files in its workspace."""
    made = await client.post(
        f"/api/v1/projects/{project_id}/agents",
        json={"name": "Writer", "agent_type": "ASSISTANT", "role": "writes notes"},
        headers=member.headers,
    )
    assert made.status_code == 201, made.text
    agent_id = uuid.UUID(made.json()["id"])
    async with database.transaction() as session:
        user = await auth.get_by_email(session, email=member.email)
        await tools.ensure_builtin_tools(session)
        tool = await tools.get_by_name(session, name="workspace.write_file")
        binding = AgentToolBind(tool_id=tool.id, requires_approval=approval)
        await tools.bind_agent_tool(session, agent_id=agent_id, binding_in=binding, user=user)
    return agent_id


def _write_then(answer: str) -> list[Any]:
    call = {"id": "c1", "name": "workspace.write_file", "arguments": {"path": "notes.md"}}
    call["arguments"]["content"] = "bakery notes"
    return [{"content": "", "tool_calls": [call]}, answer]


async def _two_tasks(client, database, member, project, *, approval: bool = False) -> Any:
    """A run of two tasks, the first by an agent that writes a file, then the second."""
    agent_id = await _writer(client, database, member, project.id, approval=approval)
    async with database.transaction(read_only=True) as session:
        user = await auth.get_by_email(session, email=member.email)
    specs = [
        TaskSpec(key="notes", name="Notes", description="Keep notes", agent_id=agent_id),
        TaskSpec(key="plan", name="Plan", description="Plan the week"),
    ]
    return await create_run(database, project, specs, deps("notes>plan"), actor_id=user.id)


def _parse(body: str) -> list[tuple[str, dict[str, Any]]]:
    """Each SSE message's id and its AG-UI event, validated by the package's models."""
    told = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" not in fields:
            continue
        event = EVENTS.validate_json(fields["data"])
        data = json.loads(fields["data"])
        assert event.model_dump(mode="json", by_alias=True) == data  # nothing unknown
        told.append((fields["id"], data))
    return told


async def _stream(client, url, headers, **kwargs) -> list[tuple[str, dict[str, Any]]]:
    response = await client.request(kwargs.pop("method", "GET"), url, headers=headers, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return _parse(response.text)


def _types(told) -> list[str]:  # type: ignore[no-untyped-def]
    return [event["type"] for _, event in told]


def _check_one_run(told, *, thread_id: str, run_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One AG-UI run as the protocol has it: RUN_STARTED first, its end last, steps, text
    messages and tool calls each opened and closed in order; the state at its end."""
    events = [event for _, event in told]
    assert events[0]["type"] == E.RUN_STARTED
    assert (events[0]["threadId"], events[0]["runId"]) == (thread_id, run_id)
    assert events[-1]["type"] in (E.RUN_FINISHED, E.RUN_ERROR)
    steps: list[str] = []
    open_parts: set[str] = set()
    state: dict[str, Any] = {}
    for event in events[1:-1]:
        kind = event["type"]
        assert kind not in (E.RUN_STARTED, E.RUN_FINISHED, E.RUN_ERROR)
        if kind == E.STEP_STARTED:
            assert event["stepName"] not in steps
            steps.append(event["stepName"])
        elif kind == E.STEP_FINISHED:
            steps.remove(event["stepName"])
        elif kind in (E.TEXT_MESSAGE_START, E.TOOL_CALL_START):
            open_parts.add(event.get("messageId") or event["toolCallId"])
        elif kind in (E.TEXT_MESSAGE_END, E.TOOL_CALL_END):
            open_parts.remove(event.get("messageId") or event["toolCallId"])
        elif kind == E.STATE_SNAPSHOT:
            state = event["snapshot"]
        elif kind == E.STATE_DELTA:
            state = jsonpatch.apply_patch(state, event["delta"])
    assert steps == []
    assert open_parts == set()
    return state


async def test_a_whole_run_as_one_agui_run_followed_live(
    services, database, client, member, project, agents_worker
) -> None:
    run = await _two_tasks(client, database, member, project)
    with llm.script(services.models, "fake", [*_write_then("# Notes\n- bread"), "Monday: bake"]):
        agents_worker()
        told = await _stream(client, f"/api/v1/runs/{run.id}/agui", member.headers)
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    state = _check_one_run(told, thread_id=str(project.id), run_id=str(run.id))
    assert state == {
        "status": "COMPLETED",
        "tasks": {
            "notes": {"name": "Notes", "status": "COMPLETED"},
            "plan": {"name": "Plan", "status": "COMPLETED"},
        },
    }
    events = [event for _, event in told]
    started = [e["stepName"] for e in events if e["type"] == E.STEP_STARTED]
    assert started == ["Notes", "Plan"]
    [call] = [e for e in events if e["type"] == E.TOOL_CALL_START]
    assert call["toolCallName"] == "workspace.write_file"
    [args] = [e for e in events if e["type"] == E.TOOL_CALL_ARGS]
    assert json.loads(args["delta"]) == {"path": "notes.md", "content": "bakery notes"}
    [result] = [e for e in events if e["type"] == E.TOOL_CALL_RESULT]
    assert result["toolCallId"] == call["toolCallId"]
    assert json.loads(result["content"])["is_error"] is False
    texts = [e["delta"] for e in events if e["type"] == E.TEXT_MESSAGE_CONTENT]
    assert (
        texts == [t.output["text"] for t in done.task_runs] == ["# Notes\n- bread", "Monday: bake"]
    )
    assert events[-1]["outcome"] == {"type": "success"}
    assert events[-1]["result"] == {"status": "COMPLETED", "needs_review": []}
    # The ids are the outbox's seq and a position in it; read again, the run tells the same.
    seqs = [int(event_id.split(":")[0]) for event_id, _ in told]
    assert seqs == sorted(seqs)
    assert len({i for i, _ in told}) == len(told)
    again = await _stream(client, f"/api/v1/runs/{run.id}/agui", member.headers)
    assert again == told


async def test_resuming_by_last_event_id_loses_nothing_and_repeats_nothing(
    services, database, client, member, project, agents_worker
) -> None:
    run = await _two_tasks(client, database, member, project)
    with llm.script(services.models, "fake", [*_write_then("notes"), "plan"]):
        agents_worker()
        await wait_for_status(database, run.id, RunStatus.COMPLETED)
    url = f"/api/v1/runs/{run.id}/agui"
    told = await _stream(client, url, member.headers)
    # Every cut: inside an outbox event's group of AG-UI events too (the tool call's four).
    for at in range(len(told) - 1):
        rest = await _stream(client, url, {**member.headers, "Last-Event-ID": told[at][0]})
        assert rest == told[at + 1 :], at
    # A bare seq: everything that outbox event said was received.
    seq = told[3][0].split(":")[0]
    rest = await _stream(client, url, {**member.headers, "Last-Event-ID": seq})
    assert rest == [item for item in told if int(item[0].split(":")[0]) > int(seq)]
    # After the end of a run that is over there is nothing more: 204 (SSE clients stop).
    last = await client.get(url, headers={**member.headers, "Last-Event-ID": told[-1][0]})
    assert last.status_code == 204
    assert last.text == ""


async def test_an_approval_is_an_interrupt_answered_through_the_agent_endpoint(
    services, database, client, member, other_member, project, agents_worker
) -> None:
    run = await _two_tasks(client, database, member, project, approval=True)
    url = f"/api/v1/runs/{run.id}/agui"
    with llm.script(services.models, "fake", [*_write_then("notes"), "plan"]):
        agents_worker()
        first = await _stream(client, url, member.headers)
        _check_one_run(first, thread_id=str(project.id), run_id=str(run.id))
        end = first[-1][1]
        assert end["type"] == E.RUN_FINISHED
        assert end["outcome"]["type"] == "interrupt"
        [interrupt] = end["outcome"]["interrupts"]
        async with database.transaction(read_only=True) as session:
            [asked], _ = await interactions.get_all(
                session, limit=5, offset=0, run_id=run.id, status=InteractionStatus.PENDING
            )
        assert interrupt["id"] == str(asked.id)
        assert interrupt["reason"] == "tool_call_approval"
        assert interrupt["message"] == asked.title
        assert interrupt["responseSchema"]["required"] == ["approved"]
        assert interrupt["metadata"]["details"]["tool"] == "workspace.write_file"

        def resume(payload: Any, status: str = "resolved") -> dict[str, Any]:
            entry = {"interruptId": interrupt["id"], "status": status, "payload": payload}
            return {"threadId": str(project.id), "runId": "r2", "messages": [], "resume": [entry]}

        # Someone else cannot answer it, nor may an answer be anything but an approval's.
        foreign = await client.post(
            "/api/v1/agui", json=resume({"approved": True}), headers=other_member.headers
        )
        assert foreign.status_code == 404
        assert foreign.headers["content-type"] == "application/problem+json"
        wrong = await client.post(
            "/api/v1/agui", json=resume({"answer": "x"}), headers=member.headers
        )
        assert wrong.status_code == 422, wrong.text
        assert wrong.headers["content-type"] == "application/problem+json"
        nothing_asked = resume({"approved": True})
        nothing_asked["resume"][0]["interruptId"] = str(uuid.uuid4())
        unknown = await client.post("/api/v1/agui", json=nothing_asked, headers=member.headers)
        assert unknown.status_code == 404

        body = resume({"approved": True, "comment": "fine"})
        second = await _stream(client, "/api/v1/agui", member.headers, method="POST", json=body)
    state = _check_one_run(second, thread_id=str(project.id), run_id=str(run.id))
    assert state["tasks"]["notes"]["status"] == state["tasks"]["plan"]["status"] == "COMPLETED"
    started = second[0][1]
    assert RunAgentInput.model_validate(started["input"]).resume[0].interrupt_id == interrupt["id"]
    assert second[-1][1]["outcome"] == {"type": "success"}
    assert E.TOOL_CALL_RESULT in _types(second)
    workspace = services.settings.workspace_dir(project.id)
    assert (workspace / "notes.md").read_text() == "bakery notes"
    # Answered as the caller, audited; and the same events by Last-Event-ID.
    async with database.transaction(read_only=True) as session:
        answered = await interactions.get(session, interaction_id=asked.id)
        entries, _ = await audit.get_all(session, limit=50, offset=0, entity_id=asked.id)
    assert answered.responded_by == member.id
    assert answered.detail["approved"] is True
    assert any(entry.actor_id == member.id for entry in entries)
    replay = await _stream(client, url, {**member.headers, "Last-Event-ID": first[-1][0]})
    assert [i for i, _ in replay] == [i for i, _ in second]
    assert "input" not in replay[0][1]
    # The run no longer waits: answering again is a conflict.
    again = await client.post("/api/v1/agui", json=body, headers=member.headers)
    assert again.status_code == 409


async def test_a_description_starts_a_project_and_its_run(
    database, client, member, agents_worker
) -> None:
    agents_worker()
    body = {
        "threadId": "t1",
        "runId": "r1",
        "messages": [
            {"id": "m1", "role": "user", "content": "A one-page website for my bakery"},
        ],
    }
    told = await _stream(client, "/api/v1/agui", member.headers, method="POST", json=body)
    started = told[0][1]
    run_id = uuid.UUID(started["runId"])
    project = (
        await client.get(f"/api/v1/projects/{started['threadId']}", headers=member.headers)
    ).json()
    assert project["description"] == "A one-page website for my bakery"
    state = _check_one_run(told, thread_id=project["id"], run_id=str(run_id))
    run = (await client.get(f"/api/v1/runs/{run_id}", headers=member.headers)).json()
    assert run["status"] == state["status"]
    assert {t["key"]: t["status"] for t in run["task_runs"]} == {
        key: task["status"] for key, task in state["tasks"].items()
    }
    steps = {e["stepName"] for _, e in told if e["type"] == E.STEP_STARTED}
    assert steps == {t["name"] for t in run["task_runs"]}
    stages = [e["value"]["stage"] for _, e in told if e.get("name") == "berrys.workflow_stage"]
    assert stages[:2] == ["team", "team"]
    assert "plan" in stages


async def test_refusals_are_problems(
    client, database, member, other_member, viewer, project
) -> None:
    run = await create_run(database, project, [TaskSpec(key="a", name="a")])
    url = f"/api/v1/runs/{run.id}/agui"
    assert (await client.get(url)).status_code == 401
    foreign = await client.get(url, headers=other_member.headers)
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    bad_id = await client.get(url, headers={**member.headers, "Last-Event-ID": "tomorrow"})
    assert bad_id.status_code == 422
    assert "Last-Event-ID" in bad_id.json()["detail"]
    said = {
        "threadId": "t",
        "runId": "r",
        "messages": [{"id": "m", "role": "user", "content": "A shop"}],
    }
    assert (await client.post("/api/v1/agui", json=said, headers=viewer.headers)).status_code == 403
    for body in (
        {"threadId": "t", "runId": "r"},  # no messages
        {"threadId": "t", "runId": "r", "messages": []},  # nothing described
        {**said, "messages": [{"id": "m", "role": "user", "content": "a\u0000b"}]},
        {**said, "messages": [{"id": "m", "role": "user", "content": "x" * 20_001}]},
        {**said, "resume": [{"interruptId": "not-an-id", "status": "resolved"}]},
    ):
        refused = await client.post("/api/v1/agui", json=body, headers=member.headers)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"


def _resume(project_id: Any, *entries: tuple[str, str, Any]) -> dict[str, Any]:
    answers = [
        {"interruptId": i, "status": status, "payload": payload} for i, status, payload in entries
    ]
    return {"threadId": str(project_id), "runId": "next", "messages": [], "resume": answers}


async def test_a_declined_plan_ends_the_next_agui_run_cancelled(
    client, database, member, project
) -> None:
    async with database.transaction(read_only=True) as session:
        user = await auth.get_by_email(session, email=member.email)
    run = await create_run(
        database, project, [TaskSpec(key="a", name="a")], actor_id=user.id, plan_approval={}
    )
    waiting = await _stream(client, f"/api/v1/runs/{run.id}/agui", member.headers)
    assert _types(waiting) == [E.RUN_STARTED, E.STATE_SNAPSHOT, E.STATE_DELTA, E.RUN_FINISHED]
    [interrupt] = waiting[-1][1]["outcome"]["interrupts"]
    assert interrupt["reason"] == "plan_approval"
    body = _resume(project.id, (interrupt["id"], "cancelled", None))
    told = await _stream(client, "/api/v1/agui", member.headers, method="POST", json=body)
    state = _check_one_run(told, thread_id=str(project.id), run_id=str(run.id))
    assert state == {"status": "CANCELLED", "tasks": {"a": {"name": "a", "status": "CANCELLED"}}}
    assert told[-1][1]["outcome"] == {"type": "cancelled"}
    assert [e["name"] for _, e in told if e["type"] == E.CUSTOM] == ["berrys.run_cancelled"]
    async with database.transaction(read_only=True) as session:
        declined = await interactions.get(session, interaction_id=uuid.UUID(interrupt["id"]))
    assert declined.detail["approved"] is False
    assert declined.responded_by == member.id


async def test_every_interrupt_is_answered_and_refused_calls_fail_the_run(
    services, database, client, member, project, agents_worker
) -> None:
    agent_id = await _writer(client, database, member, project.id, approval=True)
    async with database.transaction(read_only=True) as session:
        user = await auth.get_by_email(session, email=member.email)
    specs = [
        TaskSpec(key=key, name=key.title(), description="Keep notes", agent_id=agent_id)
        for key in ("one", "two")
    ]
    run = await create_run(database, project, specs, actor_id=user.id)
    with llm.script(services.models, "fake", [_write_then("")[0], _write_then("")[0]]):
        agents_worker()
        waiting = await _stream(client, f"/api/v1/runs/{run.id}/agui", member.headers)
    interrupts = waiting[-1][1]["outcome"]["interrupts"]
    assert len(interrupts) == 2
    first, second = (item["id"] for item in interrupts)
    partial = await client.post(
        "/api/v1/agui",
        json=_resume(project.id, (first, "resolved", {"approved": False})),
        headers=member.headers,
    )
    assert partial.status_code == 422
    assert second in partial.json()["detail"]
    body = _resume(
        project.id,
        (first, "resolved", {"approved": False, "comment": "no"}),
        (second, "cancelled", None),
    )
    told = await _stream(client, "/api/v1/agui", member.headers, method="POST", json=body)
    state = _check_one_run(told, thread_id=str(project.id), run_id=str(run.id))
    assert state["status"] == "FAILED"
    assert {task["status"] for task in state["tasks"].values()} == {"FAILED"}
    end = told[-1][1]
    assert end["type"] == E.RUN_ERROR
    assert end["code"] == "RUN_FAILED"
    assert "One" in end["message"]
    assert "Two" in end["message"]
    assert not (services.settings.workspace_dir(project.id) / "notes.md").exists()
