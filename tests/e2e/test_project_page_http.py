"""The project page over HTTP, in process: its artifacts to read and download, agents and
tasks edited in place (HTMX and plain forms, errors next to their fields), and the team
graph of a one-agent team."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid

import pytest
from tests.e2e.test_dashboard_http import _login, _parse, _planned_project
from tests.e2e.test_dashboard_views_http import DELIVERABLE, _Drafting
from tests.services.runs.conftest import FAST, wait_for_status

from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserRole
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus, TaskSpec
from berrys.services.runs.engine.worker import Worker

HX = {"HX-Request": "true"}


async def _plan(client, member, url: str) -> dict:
    return (await client.get(f"/api/v1{url}/plans/current", headers=member.headers)).json()


def _labelled(html: str, *texts: str) -> None:
    """Every control of the form has a label, and these label texts are among them."""
    parsed = _parse(html)
    assert parsed.controls
    assert all(control.get("id") in parsed.labels for control in parsed.controls)
    shown = set(re.findall(r'<label for="[^"]+">([^<]+)</label>', html))
    assert set(texts) <= shown, shown


async def test_the_project_page_lists_its_artifacts_to_read_and_download(
    client, database, settings, member, other_member
):
    created = await client.post("/api/v1/projects", json={"name": "Shop"}, headers=member.headers)
    project_id = created.json()["id"]
    async with database.transaction() as session:
        user = await auth.get_by_email(session, email=member.email)
        run = await runs.create(
            session,
            project_id=uuid.UUID(project_id),
            tasks=[TaskSpec(key="write", name="Write the checklist")],
            actor_id=user.id,
        )
    worker = Worker(database, _Drafting(settings.workspaces_dir), hooks=runs.HOOKS, config=FAST)
    running = asyncio.create_task(worker.run())
    try:
        await wait_for_status(database, run.id, RunStatus.COMPLETED)
    finally:
        worker.stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(running, 10)

    await _login(client, member)
    page = await client.get(f"/projects/{project_id}")
    assert page.status_code == 200
    section = page.text[page.text.index('id="artifacts"') : page.text.index('id="runs"')]
    [listed] = (
        await client.get(f"/api/v1/projects/{project_id}/artifacts", headers=member.headers)
    ).json()["items"]
    assert "1 artifact, newest first" in section
    assert f'<a href="/artifacts/{listed["id"]}">Write the checklist</a>' in section
    assert "<code>write.md</code>" in section
    assert "text/markdown" in section
    assert f'href="/artifacts/{listed["id"]}/download" download' in section
    # The project moved with its run.
    assert 'id="project-status">COMPLETED<' in page.text

    # Read: the Markdown rendered and sanitised as on the run page.
    read = await client.get(f"/artifacts/{listed['id']}")
    assert read.status_code == 200
    assert "<h1>Launch checklist</h1>" in read.text
    assert "<table>" in read.text
    assert "&lt;script&gt;" in read.text
    assert "<script>alert" not in read.text
    assert 'href="javascript:' not in read.text
    assert "Write the checklist" in read.text
    assert f'href="/runs/{run.id}#task-' in read.text
    # Download: the file as an attachment, the same bytes REST answers.
    download = await client.get(f"/artifacts/{listed['id']}/download")
    assert download.status_code == 200
    assert download.text == DELIVERABLE
    assert download.headers["content-disposition"].startswith('attachment; filename="write.md"')
    rest = await client.get(f"/api/v1/artifacts/{listed['id']}/content", headers=member.headers)
    assert rest.content == download.content

    client.cookies.clear()
    await _login(client, other_member)
    for path in (f"/artifacts/{listed['id']}", f"/artifacts/{listed['id']}/download"):
        assert (await client.get(path)).status_code == 404, path


async def test_an_agent_is_renamed_in_place_and_a_bad_name_is_said_next_to_its_field(
    client, member, other_member, make_actor
):
    token = await _login(client, member)
    hx = {**HX, "X-CSRF-Token": token}  # what HTMX sends: the page's token in a header
    url = await _planned_project(client, token)
    page = await client.get(url)
    agents = (await client.get(f"/api/v1{url}/agents", headers=member.headers)).json()["items"]
    agent = agents[0]
    edit_link = f"{url}/agents/{agent['id']}/edit"
    assert f'href="{edit_link}"' in page.text
    assert f'aria-label="Edit agent {agent["name"]}"' in page.text

    form = await client.get(edit_link, headers=hx)
    assert form.status_code == 200
    assert form.text.lstrip().startswith(f'<tr id="agent-{agent["id"]}" class="editing">')
    _labelled(form.text, "Name", "Role", "Description")
    assert f'value="{agent["name"]}"' in form.text

    saved = await client.post(
        f"{url}/agents/{agent['id']}",
        data={"name": "Head Baker", "role": "runs the ovens", "description": "Bakes daily."},
        headers=hx,
    )
    assert saved.status_code == 200, saved.text
    assert saved.text.lstrip().startswith(f'<tr id="agent-{agent["id"]}">')
    assert "<strong>Head Baker</strong>" in saved.text
    assert 'role="status">Saved' in saved.text
    assert "autofocus" in saved.text  # the keyboard goes on from the row's Edit link
    now = (await client.get(f"/api/v1/agents/{agent['id']}", headers=member.headers)).json()
    assert (now["name"], now["role"], now["description"]) == (
        "Head Baker",
        "runs the ovens",
        "Bakes daily.",
    )

    refused = await client.post(
        f"{url}/agents/{agent['id']}", data={"name": "   ", "role": "x" * 201}, headers=hx
    )
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.text
    assert f'id="agent-{agent["id"]}-name-error"' in refused.text
    assert "at least 1 character (allowed: 1 to 200 characters)" in refused.text
    assert "at most 200 characters (allowed: at most 200 characters)" in refused.text
    assert 'role="alert"' in refused.text
    kept = (await client.get(f"/api/v1/agents/{agent['id']}", headers=member.headers)).json()
    assert kept["name"] == "Head Baker"

    # Without JavaScript: the form on a page of its own, a save goes back to the project.
    plain = await client.get(edit_link)
    assert plain.status_code == 200
    assert "<h1>Edit Head Baker</h1>" in plain.text
    back = await client.post(
        f"{url}/agents/{agent['id']}", data={"name": "Baker", "csrf_token": token}
    )
    assert back.status_code == 303
    assert back.headers["location"] == f"{url}#agent-{agent['id']}"
    no_token = await client.post(f"{url}/agents/{agent['id']}", data={"name": "Forged"})
    assert no_token.status_code == 403

    cancel = await client.get(f"{url}/agents/{agent['id']}/row", headers=hx)
    assert "<strong>Baker</strong>" in cancel.text

    viewer = await make_actor(UserRole.VIEWER)
    client.cookies.clear()
    await _login(client, viewer)
    assert (await client.get(edit_link)).status_code in (403, 404)
    client.cookies.clear()
    await _login(client, other_member)
    assert (await client.get(edit_link, headers=hx)).status_code == 404
    other_token = _token_of(await client.get("/"))
    theirs = await client.post(
        f"{url}/agents/{agent['id']}", data={"name": "Mine now", "csrf_token": other_token}
    )
    assert theirs.status_code == 404


def _token_of(page) -> str:  # type: ignore[no-untyped-def]
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


async def test_a_task_is_edited_in_place_and_the_service_s_refusals_are_shown_inline(
    client, member, other_member
):
    token = await _login(client, member)
    hx = {**HX, "X-CSRF-Token": token}  # what HTMX sends: the page's token in a header
    url = await _planned_project(client, token)
    plan = await _plan(client, member, url)
    ordered = sorted(plan["tasks"], key=lambda task: task["position"])
    first, second, last = ordered[0], ordered[1], ordered[-1]
    agents = (await client.get(f"/api/v1{url}/agents", headers=member.headers)).json()["items"]
    page = await client.get(url)
    assert page.text.count('<tr id="task-') == len(ordered)
    assert f'aria-label="Edit task {first["name"]}"' in page.text

    form = await client.get(f"{url}/tasks/{second['id']}/edit", headers=hx)
    assert form.status_code == 200
    _labelled(form.text, "Name", "Agent", "Estimate (working hours)")
    assert "Depends on (these finish before it starts)" in form.text
    # Every other task is a labelled checkbox; the current predecessors are ticked.
    boxes = re.findall(
        r'<input type="checkbox" id="([^"]+)" name="depends_on" value="([^"]+)"', form.text
    )
    assert len(boxes) == len(ordered) - 1
    assert all(f'<label for="{box_id}">' in form.text for box_id, _ in boxes)

    before = {d["from_task_id"] for d in plan["dependencies"] if d["to_task_id"] == second["id"]}
    chosen = sorted(before | {first["id"]})
    saved = await client.post(
        f"{url}/tasks/{second['id']}",
        data={
            "name": "Design the shop front",
            "agent": agents[-1]["id"],
            "estimate": "12.5",
            "depends_on": chosen,
        },
        headers=hx,
    )
    assert saved.status_code == 200, saved.text
    assert saved.headers["hx-trigger"] == "plan-changed"  # the chart redraws
    assert "Design the shop front" in saved.text
    assert ">12.5<" in saved.text
    assert agents[-1]["name"] in saved.text
    after = await _plan(client, member, url)
    task = next(t for t in after["tasks"] if t["id"] == second["id"])
    assert (task["name"], task["estimate_hours"], task["assigned_agent_id"]) == (
        "Design the shop front",
        12.5,
        agents[-1]["id"],
    )
    assert {
        d["from_task_id"] for d in after["dependencies"] if d["to_task_id"] == second["id"]
    } == set(chosen)
    chart = await client.get(f"{url}/plan/chart", headers=hx)
    assert chart.status_code == 200
    assert "Design the shop front" in chart.text
    assert chart.text.lstrip().startswith('<div id="plan-chart"')

    # A cycle: the last task made a predecessor of the second. Nothing is saved, not even
    # the name sent with it, and the form says which tasks loop.
    cycle = await client.post(
        f"{url}/tasks/{second['id']}",
        data={
            "name": "Renamed with a cycle",
            "agent": "",
            "estimate": "12.5",
            "depends_on": [*chosen, last["id"]],
        },
        headers=hx,
    )
    assert cycle.status_code == 422
    assert f'id="task-{second["id"]}-deps-error"' in cycle.text
    assert "Dependency cycle: " in cycle.text
    assert "Renamed with a cycle" in cycle.text  # what was typed stays in the form
    unchanged = await _plan(client, member, url)
    assert next(t for t in unchanged["tasks"] if t["id"] == second["id"])["name"] == (
        "Design the shop front"
    )

    stranger = str(uuid.uuid4())
    unknown = await client.post(
        f"{url}/tasks/{second['id']}",
        data={"name": "x", "estimate": "12.5", "depends_on": [stranger]},
        headers=hx,
    )
    assert unknown.status_code == 422
    assert f"Tasks not in this plan: {stranger}" in unknown.text
    garbled = await client.post(
        f"{url}/tasks/{second['id']}",
        data={"name": "x", "estimate": "12.5", "depends_on": ["not-a-task"]},
        headers=hx,
    )
    assert garbled.status_code == 422
    assert "&#39;not-a-task&#39; is not a task (allowed: tasks of this plan" in garbled.text

    for estimate, said in (
        ("0", "greater than 0"),
        ("200000", "less than or equal to 100000"),
        ("soon", "valid number"),
        ("", "valid number"),
    ):
        bad = await client.post(
            f"{url}/tasks/{second['id']}", data={"name": "x", "estimate": estimate}, headers=hx
        )
        assert bad.status_code == 422, estimate
        error = re.search(rf'id="task-{second["id"]}-estimate-error">([^<]+)<', bad.text)
        assert error, estimate
        assert said in error.group(1)
        assert re.search(r'name="estimate" [^>]*autofocus', bad.text), estimate
        assert "allowed: working hours, more than 0 and at most 100000" in error.group(1)

    # Three-point estimates must be ordered; blank ones are cleared.
    unordered = await client.post(
        f"{url}/tasks/{second['id']}",
        data={"name": "x", "estimate": "12.5", "optimistic": "20", "pessimistic": "30"},
        headers=hx,
    )
    assert unordered.status_code == 422
    assert "Estimates must be ordered: optimistic &lt;= estimate &lt;= pessimistic" in (
        unordered.text
    )
    single = await client.post(
        f"{url}/tasks/{second['id']}",
        data={
            "name": "Design the shop front",
            "estimate": "7",
            "optimistic": "",
            "pessimistic": "",
            "depends_on": chosen,
        },
        headers=hx,
    )
    assert single.status_code == 200, single.text
    now = next(t for t in (await _plan(client, member, url))["tasks"] if t["id"] == second["id"])
    assert (now["optimistic_hours"], now["estimate_hours"], now["pessimistic_hours"]) == (
        None,
        7.0,
        None,
    )
    three = await client.post(
        f"{url}/tasks/{second['id']}",
        data={
            "name": "Design the shop front",
            "estimate": "7",
            "optimistic": "5",
            "pessimistic": "11",
            "depends_on": chosen,
        },
        headers=hx,
    )
    assert three.status_code == 200, three.text
    now = next(t for t in (await _plan(client, member, url))["tasks"] if t["id"] == second["id"])
    assert (now["optimistic_hours"], now["duration_hours"], now["pessimistic_hours"]) == (
        5.0,
        pytest.approx((5 + 4 * 7 + 11) / 6),
        11.0,
    )

    nameless = await client.post(
        f"{url}/tasks/{second['id']}", data={"name": "", "estimate": "2"}, headers=hx
    )
    assert nameless.status_code == 422
    assert f'id="task-{second["id"]}-name-error"' in nameless.text

    # Without JavaScript the save returns to the project page.
    plain = await client.post(
        f"{url}/tasks/{first['id']}",
        data={
            "name": first["name"],
            "estimate": "2",
            "optimistic": "",
            "pessimistic": "",
            "csrf_token": token,
        },
    )
    assert plain.status_code == 303
    assert plain.headers["location"] == f"{url}#task-{first['id']}"

    client.cookies.clear()
    await _login(client, other_member)
    assert (await client.get(f"{url}/tasks/{first['id']}/edit", headers=hx)).status_code == 404
    assert (await client.get(f"{url}/plan/chart", headers=hx)).status_code == 404


async def test_a_one_agent_team_has_its_graph_too(client, member):
    created = await client.post("/api/v1/projects", json={"name": "Solo"}, headers=member.headers)
    project_id = created.json()["id"]
    agent = await client.post(
        f"/api/v1/projects/{project_id}/agents",
        json={"name": "Only One", "agent_type": "SPECIALIST"},
        headers=member.headers,
    )
    assert agent.status_code == 201, agent.text
    await _login(client, member)
    page = await client.get(f"/projects/{project_id}")
    assert 'aria-label="Collaboration graph of 1 agent, no collaboration between them"' in page.text
    figure = page.text[page.text.index('class="graph-figure"') :]
    assert figure.index("<circle") < figure.index("</svg>")
    assert ">Only One</text>" in figure
    assert "One agent does all the work" in page.text
