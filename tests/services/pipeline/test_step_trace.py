"""The trace keeps what each call was asked: a model call's prompt messages and a tool
call's arguments, long texts cut with a visible marker, shown on the run page and over REST
to those who may see the project only."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from tests.e2e.test_dashboard_http import _login
from tests.services.pipeline.test_agent_executor import (
    _agent,
    _bind_write_tool,
    _tool_call_then_answer,
    _user,
)
from tests.services.runs.conftest import create_run, wait_for_status

from berrys.services.llm import service as llm
from berrys.services.pipeline._executor import AgentExecutor
from berrys.services.runs.contracts import RunStatus, TaskSpec
from berrys.services.runs.engine.trace import bounded

pytestmark = pytest.mark.usefixtures("services")

LONG = "Bake sourdough every morning. " * 400  # 12,000 characters: more than one text keeps
MARKER = re.compile(r"… \[(\d+) more characters not kept\]")


async def _agent_run(database, services, client, member, project, start_worker):
    agent = await _agent(client, member, project.id)
    user = await _user(database, member)
    await _bind_write_tool(database, user, agent["id"])
    spec = TaskSpec(key="t", name="Launch plan", description=LONG, agent_id=agent["id"])
    with llm.script(
        services.models, "fake", _tool_call_then_answer("# Launch plan\n- Opening day: Saturday")
    ):
        run = await create_run(database, project, [spec], actor_id=user.id)
        start_worker(
            AgentExecutor(
                settings=services.settings,
                database=database,
                models=services.models,
                tools=services.tools,
            )
        )
        return await wait_for_status(database, run.id, RunStatus.COMPLETED)


async def test_each_step_keeps_its_prompt_or_arguments_cut_when_long(
    services, database, settings, client, member, other_member, project, start_worker
):
    run = await _agent_run(database, services, client, member, project, start_worker)

    listed = await client.get(f"/api/v1/runs/{run.id}/steps", headers=member.headers)
    assert listed.status_code == 200
    first, tool, second = listed.json()["items"]
    assert [m["role"] for m in first["request"]["messages"]] == ["system", "user"]
    assert first["request"]["task_type"] == "TASK"
    assert first["request"]["tools"] == ["workspace.write_file"]
    task_prompt = first["request"]["messages"][1]["content"]
    assert "Bake sourdough every morning." in task_prompt
    cut = MARKER.search(task_prompt)
    assert cut, task_prompt[-200:]
    assert len(task_prompt[: cut.start()]) == 8_000
    assert first["result"]["value"]["tool_calls"][0]["name"] == "workspace.write_file"
    assert tool["request"] == {"path": "notes.md", "content": "bakery notes"}
    # The second call was asked the whole conversation: the tool's answer included.
    roles = [m["role"] for m in second["request"]["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert second["request"]["messages"][3]["tool_call_id"] == "c1"

    await _login(client, member)
    page = await client.get(f"/runs/{run.id}")
    assert page.status_code == 200
    trace = page.text[page.text.index('<details class="trace">') :]
    trace = html_lib.unescape(trace[: trace.index("</article>")])
    assert "Prompt (2 messages)" in trace
    assert "Prompt (4 messages)" in trace
    assert "Bake sourdough every morning." in trace
    assert MARKER.search(trace)
    assert "Arguments" in trace
    assert '"path": "notes.md"' in trace
    assert "# Launch plan\n- Opening day: Saturday" in trace  # the model's response
    assert "SCRIPTED" in trace
    assert "fake" in trace
    assert "Result" in trace
    assert '"is_error": false' in trace

    # Nobody else sees them: the page and the steps are 404 for another member.
    hidden = await client.get(f"/api/v1/runs/{run.id}/steps", headers=other_member.headers)
    assert hidden.status_code == 404
    await client.post("/logout", data={"csrf_token": _csrf(page.text)})
    await _login(client, other_member)
    assert (await client.get(f"/runs/{run.id}")).status_code == 404
    assert (await client.get(f"/runs/{run.id}/tasks")).status_code == 404


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_request_keeps_its_texts_in_order_until_its_budget_is_spent():
    long_texts = [{"role": "user", "content": text * 300} for text in "abc"]
    request = {"messages": long_texts, "model": "small-model", "n": 3}
    kept = bounded(request, text_limit=250, total=600)
    # Each text keeps 250 characters, the third only what is left of the 600 (the roles
    # count too); the short strings are kept whole.
    assert [message["content"] for message in kept["messages"]] == [
        "a" * 250 + "… [50 more characters not kept]",
        "b" * 250 + "… [50 more characters not kept]",
        "c" * 88 + "… [212 more characters not kept]",
    ]
    assert [message["role"] for message in kept["messages"]] == ["user"] * 3
    assert kept["model"] == "small-model"
    assert kept["n"] == 3
    assert bounded({"short": "kept whole"}) == {"short": "kept whole"}
    # Short strings overdraw the budget by one text at most.
    many = bounded(["x" * 150] * 10, text_limit=200, total=200)
    assert [len(text) for text in many if "not kept" not in text] == [150] * 2
