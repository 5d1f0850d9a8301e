"""GET /metrics reports the work queue's depth (the tasks a worker could claim now, the tasks
under a live lease) and the runs by status, across the database: what an autoscaler sizes
workers on and what alerts watch, whichever process changed them."""

from __future__ import annotations

import re

import httpx
from tests.services.runs.conftest import wait_until


def _gauge(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


async def _plan_of_three(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """A project whose plan has two independent tasks and one after the first."""
    project = (
        await client.post("/api/v1/projects", json={"name": "queue"}, headers=headers)
    ).json()
    plan = await client.post(
        f"/api/v1/projects/{project['id']}/plans",
        json={"generate": False, "name": "p"},
        headers=headers,
    )
    assert plan.status_code == 201, plan.text
    ids = []
    for name in ("a", "b", "c"):
        made = await client.post(
            f"/api/v1/plans/{plan.json()['id']}/tasks",
            json={"name": name, "estimate_hours": 1},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    linked = await client.post(
        f"/api/v1/plans/{plan.json()['id']}/dependencies",
        json={"from_task_id": ids[0], "to_task_id": ids[2], "type": "FS"},
        headers=headers,
    )
    assert linked.status_code == 201, linked.text
    return str(project["id"])


async def test_metrics_count_the_tasks_waiting_for_a_worker(client, member) -> None:
    idle = (await client.get("/metrics")).text
    assert _gauge(idle, "berrys_tasks_waiting") == 0
    assert _gauge(idle, "berrys_tasks_running") == 0
    assert _gauge(idle, 'berrys_runs{status="RUNNING"}') == 0

    project_id = await _plan_of_three(client, member.headers)
    # No worker runs in this app: the run's ready tasks wait to be claimed.
    started = await client.post(
        f"/api/v1/projects/{project_id}/runs", json={}, headers=member.headers
    )
    assert started.status_code == 202, started.text
    waiting = (await client.get("/metrics")).text
    assert _gauge(waiting, "berrys_tasks_waiting") == 2  # a and b; c waits for a
    assert _gauge(waiting, "berrys_tasks_running") == 0
    status = started.json()["status"]
    assert _gauge(waiting, f'berrys_runs{{status="{status}"}}') == 1

    # A paused run's tasks are not for the taking.
    paused = await client.post(f"/api/v1/runs/{started.json()['id']}/pause", headers=member.headers)
    assert paused.status_code == 200, paused.text
    after_pause = (await client.get("/metrics")).text
    assert _gauge(after_pause, "berrys_tasks_waiting") == 0
    assert _gauge(after_pause, 'berrys_runs{status="PAUSED"}') == 1


async def test_metrics_count_the_tasks_a_worker_runs(client, member, start_worker, executor):
    project_id = await _plan_of_three(client, member.headers)
    executor.hold_names.add("a")  # a runs until released; b finishes; c waits for a
    started = await client.post(
        f"/api/v1/projects/{project_id}/runs", json={}, headers=member.headers
    )
    assert started.status_code == 202, started.text
    start_worker(executor)

    async def only_a_running() -> str | None:
        text = (await client.get("/metrics")).text
        settled = _gauge(text, "berrys_tasks_running") == 1
        return text if settled and _gauge(text, "berrys_tasks_waiting") == 0 else None

    text = await wait_until(only_a_running, message="a running, nothing waiting")
    assert _gauge(text, 'berrys_runs{status="RUNNING"}') == 1

    executor.release("a")

    async def run_over() -> bool:
        text = (await client.get("/metrics")).text
        return (
            _gauge(text, 'berrys_runs{status="RUNNING"}')
            == 0
            == _gauge(text, "berrys_tasks_running")
        )

    await wait_until(run_over, message="the run over, nothing running")
