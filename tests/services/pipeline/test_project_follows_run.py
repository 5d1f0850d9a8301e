"""One lifecycle: a project is IN_PROGRESS while its run works and COMPLETED when the run
completes, however the run was started (chat, REST, the engine's own service); it ends with
its last open run."""

from __future__ import annotations

from typing import Any

from tests.services.runs.conftest import (
    create_run,
    get_run,
    tasks,
    wait_for_status,
    wait_until,
)
from tests.services.runs.scripted import ScriptedExecutor

from berrys.services.runs.contracts import RUN_TERMINAL, RunStatus

BAKERY = "Create a project called Bakery Site to build a website for my bakery"
ENDED = {status.value for status in RUN_TERMINAL}


async def _say(client, actor, session_id: str, content: str) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/chat/sessions/{session_id}/messages",
        json={"content": content},
        headers=actor.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _project(client, actor, project_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/projects/{project_id}", headers=actor.headers)
    return response.json()


async def _history(client, actor, project_id: str) -> list[tuple[str, str]]:
    response = await client.get(f"/api/v1/projects/{project_id}/history", headers=actor.headers)
    return [(item["to_status"], item["reason"] or "") for item in response.json()["items"]]


async def _until(client, actor, run_id: str, wanted) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Approve whatever the run asks (a risky task asks first) until ``wanted(run)``."""

    async def check() -> dict[str, Any] | None:
        run = (await client.get(f"/api/v1/runs/{run_id}", headers=actor.headers)).json()
        if wanted(run):
            return run
        pending = await client.get(
            "/api/v1/interactions",
            params={"status": "PENDING", "run_id": run_id},
            headers=actor.headers,
        )
        for item in pending.json()["items"]:
            answered = await client.post(
                f"/api/v1/interactions/{item['id']}/respond",
                json={"approved": True},
                headers=actor.headers,
            )
            assert answered.status_code == 200, answered.text
        return None

    return await wait_until(check, within=60, message=f"run {run_id}")


async def _first_task_held(client, actor, project_id: str, executor: ScriptedExecutor) -> str:
    """Hold the plan's first task so the run is seen working; its name, to release it."""
    plan = await client.get(f"/api/v1/projects/{project_id}/plans/current", headers=actor.headers)
    first = min(plan.json()["tasks"], key=lambda task: task["position"])["name"]
    executor.hold_names.add(first)
    return first


async def test_a_project_created_in_chat_follows_its_run_to_completed(client, member, start_worker):
    session = await client.post("/api/v1/chat/sessions", json={}, headers=member.headers)
    session_id = session.json()["id"]
    created = await _say(client, member, session_id, BAKERY)
    project_id = created["actions"][0]["result"]["project_id"]
    await _say(client, member, session_id, "generate the team")
    await _say(client, member, session_id, "now plan it")
    executor = ScriptedExecutor()
    held = await _first_task_held(client, member, project_id, executor)
    start_worker(executor)
    await _say(client, member, session_id, "start it")
    started = await _say(client, member, session_id, "yes")
    run_id = started["actions"][0]["result"]["run_id"]

    # The run works (its first task is held): the project is IN_PROGRESS.
    await _until(
        client,
        member,
        run_id,
        lambda run: run["status"] == "RUNNING" and executor.started(run["task_runs"][0]["key"]),
    )
    assert (await _project(client, member, project_id))["status"] == "IN_PROGRESS"
    executor.release(held)
    run = await _until(client, member, run_id, lambda run: run["status"] in ENDED)
    assert run["status"] == "COMPLETED"

    assert (await _project(client, member, project_id))["status"] == "COMPLETED"
    assert await _history(client, member, project_id) == [
        ("DRAFT", "created"),
        ("PLANNING", f"run {run_id} started"),
        ("IN_PROGRESS", f"run {run_id} started"),
        ("COMPLETED", f"run {run_id} COMPLETED"),
    ]
    status = await _say(client, member, session_id, "how is it going?")
    assert status["actions"][0]["result"]["status"] == "COMPLETED"


async def test_a_project_whose_run_started_over_rest_follows_it_too(client, member, start_worker):
    created = await client.post(
        "/api/v1/projects",
        json={"name": "Shop", "description": "an online shop for my bakery's bread"},
        headers=member.headers,
    )
    project_id = created.json()["id"]
    generated = await client.post(
        f"/api/v1/projects/{project_id}/agents/generate", json={}, headers=member.headers
    )
    assert generated.status_code < 300, generated.text
    planned = await client.post(
        f"/api/v1/projects/{project_id}/plans", json={}, headers=member.headers
    )
    assert planned.status_code == 201, planned.text
    executor = ScriptedExecutor()
    held = await _first_task_held(client, member, project_id, executor)
    start_worker(executor)
    started = await client.post(
        f"/api/v1/projects/{project_id}/runs",
        json={"options": {"risk_approval": False}},
        headers=member.headers,
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    # Created, not started yet: the project has not moved.
    assert (await _project(client, member, project_id))["status"] == "DRAFT"

    await _until(client, member, run_id, lambda run: run["status"] == "RUNNING")
    assert (await _project(client, member, project_id))["status"] == "IN_PROGRESS"
    executor.release(held)
    run = await _until(client, member, run_id, lambda run: run["status"] in ENDED)
    assert run["status"] == "COMPLETED"
    assert (await _project(client, member, project_id))["status"] == "COMPLETED"
    assert [status for status, _ in await _history(client, member, project_id)] == [
        "DRAFT",
        "PLANNING",
        "IN_PROGRESS",
        "COMPLETED",
    ]


async def test_the_project_ends_with_its_last_open_run(
    client, database, project, member, start_worker
):
    first = await create_run(database, project, tasks("A"), actor_id=member.id)
    second = await create_run(database, project, tasks("B", B={"hold": True}), actor_id=member.id)
    executor = ScriptedExecutor()
    start_worker(executor)
    await wait_for_status(database, first.id, RunStatus.COMPLETED)
    await wait_until(lambda: executor.started("B"), message="B started")
    # One run completed, the other still works: the project is still in progress.
    assert (await _project(client, member, str(project.id)))["status"] == "IN_PROGRESS"
    executor.release("B")
    await wait_for_status(database, second.id, RunStatus.COMPLETED)
    assert (await _project(client, member, str(project.id)))["status"] == "COMPLETED"


async def test_a_failed_run_leaves_the_project_for_a_person_to_review(
    client, database, project, member, start_worker
):
    start_worker(ScriptedExecutor())
    run = await create_run(database, project, tasks("A", A={"permanent": True}), actor_id=member.id)
    await wait_for_status(database, run.id, RunStatus.FAILED)
    ended = await get_run(database, run.id)
    assert ended.task_runs[0].status.value == "FAILED"
    project_now = await _project(client, member, str(project.id))
    assert project_now["status"] == "REVIEW"
    assert (await _history(client, member, str(project.id)))[-1] == (
        "REVIEW",
        f"run {run.id} FAILED",
    )


async def test_a_cancelled_run_leaves_the_project_to_run_again(
    client, database, project, member, start_worker
):
    executor = ScriptedExecutor()
    start_worker(executor)
    run = await create_run(database, project, tasks("A", A={"hold": True}), actor_id=member.id)
    await wait_until(lambda: executor.started("A"), message="A started")
    cancelled = await client.post(f"/api/v1/runs/{run.id}/cancel", headers=member.headers)
    assert cancelled.status_code == 200, cancelled.text
    await wait_for_status(database, run.id, RunStatus.CANCELLED)
    assert (await _project(client, member, str(project.id)))["status"] == "REVIEW"
    again = await create_run(database, project, tasks("B"), actor_id=member.id)
    await wait_for_status(database, again.id, RunStatus.COMPLETED)
    assert (await _project(client, member, str(project.id)))["status"] == "COMPLETED"
