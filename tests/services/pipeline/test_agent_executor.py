"""The real executor: an agent's loop model -> tool calls -> answer, journaled, with approvals
for tools that need them and an AUDITOR's bounded review; scripted models answer."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from tests.services.runs.conftest import create_run, wait_for_status

from berrys.services.catalogue.contracts import RiskLevel
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionResponse, InteractionStatus
from berrys.services.llm import service as llm
from berrys.services.pipeline._executor import AgentExecutor
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus, TaskSpec
from berrys.services.runs.tables import Step
from berrys.services.tools import service as tools
from berrys.services.tools.contracts import AgentToolBind

pytestmark = pytest.mark.usefixtures("services")


async def _agent(client, member, project_id, name="Writer", agent_type="ASSISTANT"):
    response = await client.post(
        f"/api/v1/projects/{project_id}/agents",
        json={"name": name, "agent_type": agent_type, "role": f"{name} role"},
        headers=member.headers,
    )
    assert response.status_code == 201, response.text
    agent = response.json()
    agent["id"] = uuid.UUID(agent["id"])
    return agent


async def _bind_write_tool(database, member_user, agent_id, *, requires_approval=False):
    async with database.transaction() as session:
        await tools.ensure_builtin_tools(session)
        tool = await tools.get_by_name(session, name="workspace.write_file")
        await tools.bind_agent_tool(
            session,
            agent_id=agent_id,
            binding_in=AgentToolBind(tool_id=tool.id, requires_approval=requires_approval),
            user=member_user,
        )


async def _user(database, member):
    from berrys.services.auth import service as auth

    async with database.transaction(read_only=True) as session:
        return await auth.get_by_email(session, email=member.email)


def _tool_call_then_answer(final: str) -> list:
    return [
        {
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "name": "workspace.write_file",
                    "arguments": {"path": "notes.md", "content": "bakery notes"},
                }
            ],
        },
        final,
    ]


async def _steps(database, task_run_id):
    from sqlalchemy import select

    async with database.transaction(read_only=True) as session:
        rows = await session.execute(
            select(Step).where(Step.task_run_id == task_run_id).order_by(Step.seq)
        )
        return rows.scalars().all()


async def test_an_agent_calls_its_tool_then_answers(
    services, database, settings, client, member, project, start_worker
):
    agent = await _agent(client, member, project.id)
    user = await _user(database, member)
    await _bind_write_tool(database, user, agent["id"])
    spec = TaskSpec(
        key="t",
        name="Launch plan",
        description="Write the launch plan",
        acceptance_criteria=["mentions the opening day"],
        agent_id=agent["id"],
    )
    with llm.script(
        services.models, "fake", _tool_call_then_answer("# Launch plan\n- Opening day: Saturday")
    ) as fake:
        run = await create_run(database, project, [spec], actor_id=user.id)
        start_worker(
            AgentExecutor(
                settings=settings, database=database, models=services.models, tools=services.tools
            )
        )
        done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    task = done.task_runs[0]
    assert task.output["format"] == "markdown"
    assert task.output["produced_by"] == "SCRIPTED/fake"
    assert task.output["text"].startswith("# Launch plan")
    [artifact] = done.artifacts
    assert artifact.media_type == "text/markdown"
    assert Path(artifact.path).read_text() == artifact.content  # noqa: ASYNC240
    steps = await _steps(database, task.id)
    assert steps[1].result["value"]["is_error"] is False, steps[1].result
    workspace = settings.workspace_dir(project.id)
    assert (workspace / "notes.md").read_text() == "bakery notes"
    assert [(s.kind.value, s.name) for s in await _steps(database, task.id)] == [
        ("MODEL", "model"),
        ("TOOL", "workspace.write_file"),
        ("MODEL", "model"),
    ]
    prompt = fake.requests[0].messages[-1].content
    assert "Write the launch plan" in prompt
    assert "mentions the opening day" in prompt
    assert fake.requests[1].messages[-1].role == "tool"


async def test_a_tool_that_needs_approval_waits_then_runs_once(
    services, database, settings, client, member, project, start_worker
):
    agent = await _agent(client, member, project.id)
    user = await _user(database, member)
    await _bind_write_tool(database, user, agent["id"], requires_approval=True)
    spec = TaskSpec(key="t", name="Notes", description="Keep notes", agent_id=agent["id"])
    with llm.script(services.models, "fake", _tool_call_then_answer("done")) as fake:
        run = await create_run(database, project, [spec], actor_id=user.id)
        start_worker(
            AgentExecutor(
                settings=settings, database=database, models=services.models, tools=services.tools
            )
        )
        await wait_for_status(database, run.id, RunStatus.AWAITING_INPUT)
        async with database.transaction(read_only=True) as session:
            [pending], _ = await interactions.get_all(
                session, limit=5, offset=0, run_id=run.id, status=InteractionStatus.PENDING
            )
        assert pending.detail["subject"] == "TOOL_CALL"
        assert pending.detail["details"]["tool"] == "workspace.write_file"
        workspace = settings.workspace_dir(project.id)
        assert not (workspace / "notes.md").exists()
        async with database.transaction() as session:
            await runs.respond_interaction(
                session,
                interaction_id=pending.id,
                response=InteractionResponse(approved=True),
                user=None,
            )
        await wait_for_status(database, run.id, RunStatus.COMPLETED)
        assert fake.remaining == 0  # the first model answer was replayed, not asked again
    assert (workspace / "notes.md").read_text() == "bakery notes"


async def test_an_auditor_review_sends_the_work_back_a_bounded_number_of_times(
    services, database, settings, client, member, project, start_worker
):
    writer = await _agent(client, member, project.id)
    await _agent(client, member, project.id, name="Auditor", agent_type="AUDITOR")
    user = await _user(database, member)
    spec = TaskSpec(
        key="t",
        name="Announcement",
        description="Announce the website",
        acceptance_criteria=["lists opening hours"],
        agent_id=writer["id"],
        risk_level=RiskLevel.LOW,
    )
    answers = [
        "Our website is live!",
        json.dumps({"approved": False, "feedback": "add the opening hours"}),
        "Our website is live! Open 7-17.",
        json.dumps({"approved": True, "feedback": "good"}),
    ]
    with llm.script(services.models, "fake", answers) as fake:
        run = await create_run(
            database, project, [spec], actor_id=user.id, options={"review": True}
        )
        start_worker(
            AgentExecutor(
                settings=settings, database=database, models=services.models, tools=services.tools
            )
        )
        done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
        assert fake.remaining == 0
    output = done.task_runs[0].output
    assert output["text"] == "Our website is live! Open 7-17."
    assert output["review_retries"] == 1
    assert output["review"]["approved"] is True
    assert "add the opening hours" in fake.requests[2].messages[-1].content
