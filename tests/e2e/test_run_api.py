"""Runs and interactions over REST against a live server (uvicorn, real sockets) whose
embedded worker executes with the scripted executor; SSE read by a real HTTP client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from tests.e2e.processes import free_port
from tests.services.runs.conftest import wait_until
from tests.services.runs.scripted import ScriptedExecutor

from berrys.app import create_app


@pytest.fixture
async def live(settings, database, tmp_path) -> AsyncIterator[tuple[str, ScriptedExecutor]]:
    executor = ScriptedExecutor(tmp_path / "effects.txt")
    app = create_app(settings, database=database)
    app.state.run_executor = executor
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, message="server started")
    try:
        yield f"http://127.0.0.1:{port}", executor
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def _plan(http: httpx.AsyncClient, headers, *, tasks: list[dict], deps: list[tuple]) -> str:
    project = (
        await http.post("/api/v1/projects", json={"name": "run api"}, headers=headers)
    ).json()
    plan = await http.post(
        f"/api/v1/projects/{project['id']}/plans",
        json={"generate": False, "name": "p"},
        headers=headers,
    )
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["id"]
    ids = {}
    for task in tasks:
        made = await http.post(
            f"/api/v1/plans/{plan_id}/tasks", json={"estimate_hours": 1, **task}, headers=headers
        )
        assert made.status_code == 201, made.text
        ids[task["name"]] = made.json()["id"]
    for source, target, kind in deps:
        made = await http.post(
            f"/api/v1/plans/{plan_id}/dependencies",
            json={"from_task_id": ids[source], "to_task_id": ids[target], "type": kind},
            headers=headers,
        )
        assert made.status_code == 201, made.text
    return project["id"]


async def _sse(http: httpx.AsyncClient, url: str, headers) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with http.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if kind == "end":
                    events.append({"type": "end", **data})
                    break
                events.append(data)
    return events


def _key(run: dict, name: str) -> str:
    return next(t["key"] for t in run["task_runs"] if t["name"] == name)


async def _wait_task(http, run_id, headers, name: str, status: str) -> dict:
    async def check():
        run = (await http.get(f"/api/v1/runs/{run_id}", headers=headers)).json()
        states = {t["name"]: t["status"] for t in run["task_runs"]}
        return run if states[name] == status else None

    return await wait_until(check, message=f"{name} {status}")


async def _wait_status(http, run_id, headers, *statuses: str) -> dict:
    async def check():
        run = (await http.get(f"/api/v1/runs/{run_id}", headers=headers)).json()
        return run if run["status"] in statuses else None

    return await wait_until(check, message=f"run {statuses}")


async def test_a_diamond_run_over_rest_with_sse(live, member) -> None:
    url, _ = live
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        project_id = await _plan(
            http,
            member.headers,
            tasks=[{"name": n} for n in "ABCD"],
            deps=[("A", "B", "FS"), ("A", "C", "FS"), ("B", "D", "FS"), ("C", "D", "FS")],
        )
        started = await http.post(
            f"/api/v1/projects/{project_id}/runs", json={}, headers=member.headers
        )
        assert started.status_code == 202, started.text
        run = started.json()
        assert run["status"] == "QUEUED"
        assert len(run["task_runs"]) == 4
        events = await _sse(http, f"/api/v1/runs/{run['id']}/events", member.headers)
        assert events[-1] == {"type": "end", "status": "COMPLETED", "seq": events[-2]["seq"]}
        seqs = [e["seq"] for e in events[:-1]]
        assert seqs == list(range(1, len(seqs) + 1))
        assert [e["type"] for e in events].count("TASK_COMPLETED") == 4
        # Resuming the stream after an id sends only what came later.
        tail = await _sse(http, f"/api/v1/runs/{run['id']}/events?after={seqs[-3]}", member.headers)
        assert [e["seq"] for e in tail[:-1]] == seqs[-2:]
        done = (await http.get(f"/api/v1/runs/{run['id']}", headers=member.headers)).json()
        assert done["status"] == "COMPLETED"
        assert {t["status"] for t in done["task_runs"]} == {"COMPLETED"}
        listed = await http.get(f"/api/v1/projects/{project_id}/runs", headers=member.headers)
        assert listed.json()["total"] == 1
        # The outbox also feeds the audit log (run status changes) and the metrics.
        audit = await http.get(
            "/api/v1/audit", params={"entity_id": run["id"]}, headers=member.headers
        )
        changes = [
            (e["before"]["status"], e["after"]["status"])
            for e in audit.json()["items"]
            if e["action"] == "TRANSITION"
        ]
        assert sorted(changes) == [("QUEUED", "RUNNING"), ("RUNNING", "COMPLETED")]
        metrics = (await http.get("/metrics")).text
        assert 'berrys_run_events_total{type="TASK_COMPLETED"}' in metrics


async def test_pause_resume_cancel_and_illegal_controls(live, member, other_member) -> None:
    url, executor = live
    executor.hold_names = {"first", "hold"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        project_id = await _plan(
            http,
            member.headers,
            tasks=[{"name": "first"}, {"name": "second"}, {"name": "third"}],
            deps=[("first", "second", "FS"), ("second", "third", "FS")],
        )
        run = (
            await http.post(f"/api/v1/projects/{project_id}/runs", json={}, headers=member.headers)
        ).json()
        rid = run["id"]
        assert (
            await http.get(f"/api/v1/runs/{rid}", headers=other_member.headers)
        ).status_code == 404
        assert (
            await http.post(f"/api/v1/runs/{rid}/resume", headers=member.headers)
        ).status_code == 409
        await wait_until(lambda: executor.started(_key(run, "first")), message="first started")
        paused = await http.post(f"/api/v1/runs/{rid}/pause", headers=member.headers)
        assert paused.status_code == 200
        assert paused.json()["status"] == "PAUSED"
        assert (
            await http.post(f"/api/v1/runs/{rid}/pause", headers=member.headers)
        ).status_code == 409
        executor.release("first")
        held = await _wait_task(http, rid, member.headers, "first", "COMPLETED")
        assert held["status"] == "PAUSED"
        assert {t["name"]: t["status"] for t in held["task_runs"]}["second"] == "READY"
        resumed = await http.post(f"/api/v1/runs/{rid}/resume", headers=member.headers)
        assert resumed.status_code == 200
        await _wait_status(http, rid, member.headers, "COMPLETED")
        conflict = await http.post(f"/api/v1/runs/{rid}/cancel", headers=member.headers)
        assert conflict.status_code == 409
        assert conflict.headers["content-type"] == "application/problem+json"

        # Cancel a run whose first task is still working.
        project_id = await _plan(
            http,
            member.headers,
            tasks=[{"name": "hold"}, {"name": "never"}],
            deps=[("hold", "never", "FS")],
        )
        run = (
            await http.post(f"/api/v1/projects/{project_id}/runs", json={}, headers=member.headers)
        ).json()
        cancelled = await http.post(f"/api/v1/runs/{run['id']}/cancel", headers=member.headers)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "CANCELLED"
        assert {t["status"] for t in cancelled.json()["task_runs"]} == {"CANCELLED"}
        events = await _sse(http, f"/api/v1/runs/{run['id']}/events", member.headers)
        assert events[-1]["status"] == "CANCELLED"


async def test_retry_a_failed_task_over_rest(live, member) -> None:
    url, executor = live
    executor.fail_names = {"only"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        project_id = await _plan(http, member.headers, tasks=[{"name": "only"}], deps=[])
        run = (
            await http.post(f"/api/v1/projects/{project_id}/runs", json={}, headers=member.headers)
        ).json()
        failed = await _wait_status(http, run["id"], member.headers, "FAILED")
        task_id = failed["task_runs"][0]["id"]
        assert failed["task_runs"][0]["failures"] == 1  # a permanent error: no retries
        executor.fail_names = set()
        again = await http.post(
            f"/api/v1/runs/{run['id']}/tasks/{task_id}/retry", headers=member.headers
        )
        assert again.status_code == 200, again.text
        done = await _wait_status(http, run["id"], member.headers, "COMPLETED")
        assert done["task_runs"][0]["attempt"] == 2
        twice = await http.post(
            f"/api/v1/runs/{run['id']}/tasks/{task_id}/retry", headers=member.headers
        )
        assert twice.status_code == 409


async def test_plan_approval_then_risky_task_approval_over_rest(live, member, other_member) -> None:
    url, _ = live
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        project_id = await _plan(
            http,
            member.headers,
            tasks=[{"name": "write"}, {"name": "publish", "risk_level": "HIGH"}],
            deps=[("write", "publish", "FS")],
        )
        run = (
            await http.post(
                f"/api/v1/projects/{project_id}/runs",
                json={"require_plan_approval": True},
                headers=member.headers,
            )
        ).json()
        assert run["status"] == "AWAITING_INPUT"
        pending = (
            await http.get(
                "/api/v1/interactions",
                params={"status": "PENDING", "project_id": project_id},
                headers=member.headers,
            )
        ).json()
        assert pending["total"] == 1
        gate = pending["items"][0]
        assert gate["detail"]["subject"] == "PLAN"
        assert "estimated_cost_usd" in gate["detail"]["details"]
        assert "estimated_run_seconds" in gate["detail"]["details"]
        assert (
            await http.get(f"/api/v1/interactions/{gate['id']}", headers=other_member.headers)
        ).status_code == 404
        bad = await http.post(
            f"/api/v1/interactions/{gate['id']}/respond",
            json={"answer": "x"},
            headers=member.headers,
        )
        assert bad.status_code == 422
        ok = await http.post(
            f"/api/v1/interactions/{gate['id']}/respond",
            json={"approved": True},
            headers=member.headers,
        )
        assert ok.status_code == 200
        assert ok.json()["status"] == "RESPONDED"
        again = await http.post(
            f"/api/v1/interactions/{gate['id']}/respond",
            json={"approved": True},
            headers=member.headers,
        )
        assert again.status_code == 409
        waiting = await _wait_status(http, run["id"], member.headers, "AWAITING_INPUT")
        statuses = {t["name"]: t["status"] for t in waiting["task_runs"]}
        assert statuses == {"write": "COMPLETED", "publish": "AWAITING_INPUT"}
        risk = (
            await http.get(
                "/api/v1/interactions",
                params={"status": "PENDING", "type": "APPROVAL"},
                headers=member.headers,
            )
        ).json()["items"][0]
        assert risk["detail"]["subject"] == "TASK_RISK"
        rejected = await http.post(
            f"/api/v1/interactions/{risk['id']}/respond",
            json={"approved": False, "comment": "not yet"},
            headers=member.headers,
        )
        assert rejected.status_code == 200
        failed = await _wait_status(http, run["id"], member.headers, "FAILED")
        assert {t["name"]: t["status"] for t in failed["task_runs"]}["publish"] == "FAILED"


async def test_rejecting_the_plan_cancels_the_run(live, member) -> None:
    url, _ = live
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        project_id = await _plan(http, member.headers, tasks=[{"name": "a"}], deps=[])
        await http.patch(
            f"/api/v1/projects/{project_id}",
            json={"metadata": {"require_plan_approval": True}},
            headers=member.headers,
        )
        run = (
            await http.post(f"/api/v1/projects/{project_id}/runs", json={}, headers=member.headers)
        ).json()
        assert run["status"] == "AWAITING_INPUT"
        response = await http.post(
            f"/api/v1/interactions/{run['gate_interaction_id']}/respond",
            json={"approved": False},
            headers=member.headers,
        )
        assert response.status_code == 200
        done = await _wait_status(http, run["id"], member.headers, "CANCELLED")
        assert done["task_runs"][0]["status"] == "CANCELLED"


async def test_a_project_without_a_plan_is_422(live, member) -> None:
    url, _ = live
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        project = (
            await http.post("/api/v1/projects", json={"name": "no plan"}, headers=member.headers)
        ).json()
        response = await http.post(
            f"/api/v1/projects/{project['id']}/runs", json={}, headers=member.headers
        )
        assert response.status_code == 422
        assert "no plan" in response.json()["detail"]
