"""Planning over REST: plans, tasks, dependencies, schedule, resources, what-if, generation."""

from __future__ import annotations

import json
import sqlite3

import pytest

from berrys.services.llm import service as llm

P = "/api/v1/plans"


async def _project(client, actor, description: str = "") -> str:  # type: ignore[no-untyped-def]
    body = {"name": "Bakery site", "description": description}
    response = await client.post("/api/v1/projects", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _agent(client, actor, project_id, name, agent_type, skills):  # type: ignore[no-untyped-def]
    body = {"name": name, "agent_type": agent_type, "specialisation": {"skills": skills}}
    response = await client.post(
        f"/api/v1/projects/{project_id}/agents", json=body, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _empty_plan(client, actor, project_id, **extra):  # type: ignore[no-untyped-def]
    body = {"generate": False, "start_at": "2026-11-30T09:00:00Z", **extra}
    response = await client.post(
        f"/api/v1/projects/{project_id}/plans", json=body, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _task(client, actor, plan_id, name, hours, **extra):  # type: ignore[no-untyped-def]
    body = {"name": name, "estimate_hours": hours, **extra}
    response = await client.post(f"{P}/{plan_id}/tasks", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _dep(client, actor, plan_id, a, b, kind="FS", lag=0.0):  # type: ignore[no-untyped-def]
    body = {"from_task_id": a, "to_task_id": b, "type": kind, "lag_hours": lag}
    return await client.post(f"{P}/{plan_id}/dependencies", json=body, headers=actor.headers)


async def test_hand_made_plan_schedule_with_calendar_and_forecast(client, member):
    project_id = await _project(client, member)
    plan = await _empty_plan(client, member, project_id)
    assert plan["version"] == 1
    assert plan["is_current"] is True
    assert plan["tasks"] == []
    pid = plan["id"]
    a = await _task(client, member, pid, "Recipe research", 8)
    b = await _task(client, member, pid, "Build shop", 12, optimistic_hours=9, pessimistic_hours=21)
    c = await _task(client, member, pid, "Write copy", 4)
    assert (await _dep(client, member, pid, a, b, "FS", 4)).status_code == 201
    assert (await _dep(client, member, pid, a, c, "SS", 2)).status_code == 201

    response = await client.get(f"{P}/{pid}/schedule?seed=3", headers=member.headers)
    assert response.status_code == 200, response.text
    s = response.json()
    rows = {t["task_id"]: t for t in s["tasks"]}
    # b: PERT (9 + 48 + 21) / 6 = 13 h after 8 + 4 h: 12..25.
    assert rows[b]["duration_hours"] == pytest.approx(13.0)
    assert (rows[b]["es_hours"], rows[b]["ef_hours"]) == (12.0, 25.0)
    assert (rows[c]["es_hours"], rows[c]["total_slack_hours"]) == (2.0, 19.0)
    assert s["finish_hours"] == 25.0
    assert s["critical_path"] == [a, b]
    # Mon 30 Nov 09:00 + 12 working hours (8 h/day) = Tue 1 Dec 13:00; 25 h ends Thu 3 Dec 10:00.
    assert rows[b]["early_start"].startswith("2026-12-01T13:00")
    assert s["finish"]["date"].startswith("2026-12-03T10:00")
    forecast = s["finish"]
    assert forecast["p50_hours"] <= forecast["p80_hours"] <= forecast["p95_hours"]
    assert forecast["p50"] <= forecast["p80"] <= forecast["p95"]
    again = await client.get(f"{P}/{pid}/schedule?seed=3", headers=member.headers)
    assert again.json()["finish"] == forecast

    detail = await client.get(f"{P}/{pid}", headers=member.headers)
    body = detail.json()
    assert {t["id"] for t in body["tasks"]} == {a, b, c}
    assert {(d["from_task_id"], d["to_task_id"], d["type"]) for d in body["dependencies"]} == {
        (a, b, "FS"),
        (a, c, "SS"),
    }
    history = await client.get(f"{P}/{pid}/history", headers=member.headers)
    assert history.json()["total"] == 6  # plan, 3 tasks, 2 dependencies
    page = await client.get(f"{P}/{pid}/tasks?limit=2&offset=1", headers=member.headers)
    assert page.json()["total"] == 3
    assert [t["id"] for t in page.json()["items"]] == [b, c]


async def test_a_cycle_is_422_naming_its_tasks(client, member):
    pid = (await _empty_plan(client, member, await _project(client, member)))["id"]
    a = await _task(client, member, pid, "Alpha", 1)
    b = await _task(client, member, pid, "Beta", 1)
    c = await _task(client, member, pid, "Gamma", 1)
    await _dep(client, member, pid, a, b)
    await _dep(client, member, pid, b, c, "SS", 1)
    response = await _dep(client, member, pid, c, a, "FF")
    assert response.status_code == 422
    problem = response.json()
    assert set(problem["cycle"]) == {a, b, c}
    assert set(problem["cycle_names"]) == {"Alpha", "Beta", "Gamma"}
    for name in ("Alpha", "Beta", "Gamma"):
        assert name in problem["detail"]
    itself = await _dep(client, member, pid, a, a)
    assert itself.status_code == 422
    assert itself.json()["cycle_names"] == ["Alpha"]
    duplicate = await _dep(client, member, pid, a, b, "SS")
    assert duplicate.status_code == 409


async def test_access_roles_and_bad_input(client, member, other_member, viewer, admin):
    project_id = await _project(client, member)
    pid = (await _empty_plan(client, member, project_id))["id"]
    a = await _task(client, member, pid, "Alpha", 2)
    for path in ("", "/schedule", "/bottlenecks", "/history", "/resources"):
        response = await client.get(f"{P}/{pid}{path}", headers=other_member.headers)
        assert response.status_code == 404, path
    hidden = await client.post(
        f"/api/v1/projects/{project_id}/plans",
        json={"generate": False},
        headers=other_member.headers,
    )
    assert hidden.status_code == 404
    stolen = await client.post(
        f"{P}/{pid}/tasks", json={"name": "x", "estimate_hours": 1}, headers=other_member.headers
    )
    assert stolen.status_code == 404
    viewer_write = await client.post(
        f"{P}/{pid}/tasks", json={"name": "x", "estimate_hours": 1}, headers=viewer.headers
    )
    assert viewer_write.status_code == 403
    assert (await client.get(f"{P}/{pid}", headers=admin.headers)).status_code == 200
    writes = [
        ("post", f"/api/v1/projects/{project_id}/plans", {"generate": False}),
        ("patch", f"{P}/{pid}", {"name": "mine now"}),
        ("delete", f"{P}/{pid}", None),
        ("post", f"{P}/{pid}/clone", None),
        ("patch", f"{P}/{pid}/tasks/{a}", {"name": "x"}),
        ("delete", f"{P}/{pid}/tasks/{a}", None),
        ("post", f"{P}/{pid}/dependencies", {"from_task_id": a, "to_task_id": a}),
        ("post", f"{P}/{pid}/phases", {"name": "p"}),
        ("post", f"{P}/{pid}/milestones", {"name": "m"}),
        ("post", f"{P}/{pid}/resources", {"name": "Ann"}),
        ("post", f"{P}/{pid}/level", {"apply": True}),
        ("post", f"{P}/{pid}/assign", {}),
    ]
    for method, path, body in writes:
        as_viewer = await client.request(method, path, json=body, headers=viewer.headers)
        assert as_viewer.status_code == 403, (method, path, as_viewer.text)
        as_other = await client.request(method, path, json=body, headers=other_member.headers)
        assert as_other.status_code == 404, (method, path, as_other.text)
    bad_bodies = [
        {"name": "x", "estimate_hours": 0},
        {"name": "x", "estimate_hours": -1},
        {"name": "x", "estimate_hours": 5, "optimistic_hours": 8},
        {"name": "x", "estimate_hours": 5, "pessimistic_hours": 2},
        {"name": "", "estimate_hours": 1},
        {"name": "x", "estimate_hours": "lots"},
        {"name": "x", "estimate_hours": 1, "priority": "URGENT"},
        {"name": "x", "estimate_hours": 1, "phase_id": "not-a-uuid"},
        {"name": "x", "estimate_hours": 1, "phase_id": "00000000-0000-0000-0000-000000000000"},
        {"name": "x", "estimate_hours": 1, "assigned_agent_id": a},
        {"name": "x", "estimate_hours": 1e300},
        {"name": "x", "estimate_hours": 1, "unknown": 1},
    ]
    for body in bad_bodies:
        response = await client.post(f"{P}/{pid}/tasks", json=body, headers=member.headers)
        assert response.status_code == 422, (body, response.text)
    bad_deps = [
        {"from_task_id": a, "to_task_id": "00000000-0000-0000-0000-000000000000"},
        {"from_task_id": a, "to_task_id": a, "type": "XX"},
        {"from_task_id": a, "to_task_id": a, "lag_hours": 1e9},
    ]
    for body in bad_deps:
        response = await client.post(f"{P}/{pid}/dependencies", json=body, headers=member.headers)
        assert response.status_code == 422, (body, response.text)
    lower = await client.post(
        f"{P}/{pid}/tasks",
        json={"name": "y", "estimate_hours": 1, "priority": "high"},
        headers=member.headers,
    )
    assert lower.status_code == 201, lower.text
    assert lower.json()["priority"] == "HIGH"
    for path in ("/schedule?iterations=0", "/schedule?seed=-1", "/schedule?iterations=x"):
        assert (await client.get(f"{P}/{pid}{path}", headers=member.headers)).status_code == 422
    missing = await client.get(f"{P}/00000000-0000-0000-0000-000000000000", headers=member.headers)
    assert missing.status_code == 404


async def test_versions_clone_and_current(client, member):
    project_id = await _project(client, member)
    first = await _empty_plan(client, member, project_id)
    a = await _task(client, member, first["id"], "Alpha", 2)
    b = await _task(client, member, first["id"], "Beta", 3)
    await _dep(client, member, first["id"], a, b, "FF", 1)
    clone = await client.post(f"{P}/{first['id']}/clone", headers=member.headers)
    assert clone.status_code == 201, clone.text
    copy = clone.json()
    assert (copy["version"], copy["is_current"], copy["parent_id"]) == (2, True, first["id"])
    assert [t["name"] for t in copy["tasks"]] == ["Alpha", "Beta"]
    assert {t["id"] for t in copy["tasks"]}.isdisjoint({a, b})
    assert copy["dependencies"][0]["type"] == "FF"
    versions = await client.get(f"/api/v1/projects/{project_id}/plans", headers=member.headers)
    assert [(p["version"], p["is_current"]) for p in versions.json()["items"]] == [
        (2, True),
        (1, False),
    ]
    back = await client.patch(
        f"{P}/{first['id']}", json={"is_current": True}, headers=member.headers
    )
    assert back.json()["is_current"] is True
    current = await client.get(
        f"/api/v1/projects/{project_id}/plans/current", headers=member.headers
    )
    assert current.json()["id"] == first["id"]
    assert (await client.delete(f"{P}/{first['id']}", headers=member.headers)).status_code == 204
    current = await client.get(
        f"/api/v1/projects/{project_id}/plans/current", headers=member.headers
    )
    assert current.json()["id"] == copy["id"]


async def test_resources_levelling_bottlenecks_and_what_if(client, member):
    project_id = await _project(client, member)
    dev = await _agent(client, member, project_id, "Dev", "DEVELOPER", ["python", "apis"])
    dev2 = await _agent(client, member, project_id, "Dev Two", "DEVELOPER", ["python"])
    pid = (await _empty_plan(client, member, project_id))["id"]
    py = {"required_skills": ["python"]}
    a = await _task(client, member, pid, "A", 8, assigned_agent_id=dev, **py)
    b = await _task(client, member, pid, "B", 4, assigned_agent_id=dev, required_skills=["Python"])
    c = await _task(client, member, pid, "C", 2, required_skills=["rust"])
    d = await _task(client, member, pid, "D", 8, assigned_agent_id=dev, **py)
    await _task(client, member, pid, "E", 24, assigned_agent_id=dev2, **py)
    await _dep(client, member, pid, a, d)

    loads = (await client.get(f"{P}/{pid}/resources", headers=member.headers)).json()
    dev_load = next(r for r in loads["resources"] if r["agent_id"] == dev)
    assert dev_load["allocated_hours"] == 20.0
    assert dev_load["over_allocations"][0]["load"] == 2  # A and B at once
    assert loads["unassigned_task_ids"] == [c]

    found = (await client.get(f"{P}/{pid}/bottlenecks", headers=member.headers)).json()
    kinds = {(x["kind"], x["severity"]) for x in found["bottlenecks"]}
    assert ("OVER_ALLOCATION", "HIGH") in kinds
    assert ("SKILL_GAP", "HIGH") in kinds  # nobody has rust

    dry = (await client.post(f"{P}/{pid}/level", json={}, headers=member.headers)).json()
    assert dry["applied"] is False
    assert (dry["finish_hours_before"], dry["finish_hours_after"]) == (24.0, 24.0)
    moved = {s["task_id"]: s for s in dry["shifts"]}
    assert set(moved) == {b}  # critical-first: A and D keep their dates, B moves in its slack
    assert (moved[b]["to_hours"], moved[b]["within_slack"]) == (16.0, True)
    applied = await client.post(f"{P}/{pid}/level", json={"apply": True}, headers=member.headers)
    assert applied.json()["applied"] is True
    loads = (await client.get(f"{P}/{pid}/resources", headers=member.headers)).json()
    assert next(r for r in loads["resources"] if r["agent_id"] == dev)["over_allocations"] == []

    body = {
        "changes": [
            {"change": "ESTIMATE", "task_id": a, "estimate_hours": 20},
            {"change": "ADD_DEPENDENCY", "from_task_id": c, "to_task_id": a, "type": "FS"},
            {"change": "REMOVE_RESOURCE", "agent_id": dev},
        ],
        "optimization_target": "TIME",
    }
    what = await client.post(f"{P}/{pid}/what-if", json=body, headers=member.headers)
    assert what.status_code == 200, what.text
    out = what.json()
    assert out["before"]["finish_hours"] == 24.0
    assert out["after"]["finish_hours"] == 30.0  # C (2), A (20), D (8)
    assert out["delta_hours"] == 6.0
    assert out["after"]["levelled_finish_hours"] > out["after"]["finish_hours"]  # one dev left
    reassigned = {t["task_id"]: t["assigned_agent_id_after"] for t in out["changed_tasks"]}
    assert reassigned[a] == dev2
    # nothing was saved
    tasks = (await client.get(f"{P}/{pid}", headers=member.headers)).json()
    assert next(t for t in tasks["tasks"] if t["id"] == a)["estimate_hours"] == 8.0
    assert len(tasks["dependencies"]) == 1
    cyclic = {"changes": [{"change": "ADD_DEPENDENCY", "from_task_id": d, "to_task_id": a}]}
    response = await client.post(f"{P}/{pid}/what-if", json=cyclic, headers=member.headers)
    assert response.status_code == 422
    assert set(response.json()["cycle_names"]) == {"A", "D"}


def _assert_valid(plan: dict, agents: dict[str, set[str]]) -> None:  # type: ignore[type-arg]
    ids = {t["id"] for t in plan["tasks"]}
    assert plan["tasks"]
    for task in plan["tasks"]:
        assert task["estimate_hours"] > 0
        assert task["assigned_agent_id"] in agents, task
        assert set(task["required_skills"]) <= agents[task["assigned_agent_id"]], task
    for dep in plan["dependencies"]:
        assert {dep["from_task_id"], dep["to_task_id"]} <= ids


@pytest.mark.parametrize("methodology", ["AGILE", "WATERFALL", "CRITICAL_PATH"])
async def test_generated_plan_is_valid_offline(client, member, methodology):
    project_id = await _project(
        client,
        member,
        "Build an online shop for a bakery with a checkout. Write the product copy. "
        "Design a friendly logo. The payments must be secure and tested.",
    )
    agents = {
        await _agent(client, member, project_id, "Coordinator", "COORDINATOR", ["planning"]): {
            "planning"
        },
        await _agent(
            client, member, project_id, "Dev", "DEVELOPER", ["software engineering", "testing"]
        ): {
            "software engineering",
            "testing",
        },
        await _agent(client, member, project_id, "Designer", "DESIGNER", ["visual design"]): {
            "visual design"
        },
        await _agent(client, member, project_id, "Writer", "ASSISTANT", ["technical writing"]): {
            "technical writing"
        },
    }
    response = await client.post(
        f"/api/v1/projects/{project_id}/plans",
        json={"methodology": methodology},
        headers=member.headers,
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["methodology"] == methodology
    assert plan["generated_by"]
    _assert_valid(plan, agents)
    assert plan["phases"]
    assert plan["milestones"]
    schedule = await client.get(f"{P}/{plan['id']}/schedule", headers=member.headers)
    assert schedule.status_code == 200
    s = schedule.json()
    assert s["critical_path"]
    assert s["finish"]["p50"] <= s["finish"]["p95"]
    names = {t["id"]: t["name"] for t in plan["tasks"]}
    if methodology == "WATERFALL":  # each phase closed by a sign-off the next one waits for
        assert len(plan["milestones"]) == len(plan["phases"])
        assert sum(n.startswith("Sign off the") for n in names.values()) == len(plan["phases"])
    if methodology == "AGILE":
        assert all(p["name"].startswith(f"Sprint {i}:") for i, p in enumerate(plan["phases"], 1))


async def test_generation_needs_a_team(client, member):
    project_id = await _project(client, member, "Build a website.")
    response = await client.post(
        f"/api/v1/projects/{project_id}/plans", json={}, headers=member.headers
    )
    assert response.status_code == 422
    assert "generate a team first" in response.json()["detail"]


async def test_task_update_and_delete(client, member):
    pid = (await _empty_plan(client, member, await _project(client, member)))["id"]
    a, b = [await _task(client, member, pid, n, 2) for n in ("A", "B")]
    await _dep(client, member, pid, a, b)
    patched = await client.patch(
        f"{P}/{pid}/tasks/{a}",
        json={"estimate_hours": 5, "status": "in_progress"},
        headers=member.headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["estimate_hours"], patched.json()["status"]) == (5.0, "IN_PROGRESS")
    illegal = await client.patch(
        f"{P}/{pid}/tasks/{b}", json={"status": "COMPLETED"}, headers=member.headers
    )
    assert illegal.status_code == 409
    assert "IN_PROGRESS" in illegal.json()["detail"]
    bad = await client.patch(
        f"{P}/{pid}/tasks/{a}", json={"pessimistic_hours": 1}, headers=member.headers
    )
    assert bad.status_code == 422
    assert (
        await client.patch(f"{P}/{pid}/tasks/{a}", json={"name": None}, headers=member.headers)
    ).status_code == 422
    assert (await client.delete(f"{P}/{pid}/tasks/{a}", headers=member.headers)).status_code == 204
    plan = (await client.get(f"{P}/{pid}", headers=member.headers)).json()
    assert [t["id"] for t in plan["tasks"]] == [b]
    assert plan["dependencies"] == []


async def test_project_stats_count_tasks_progress_and_eta(client, member):
    project_id = await _project(client, member)
    empty = (
        await client.get(f"/api/v1/projects/{project_id}/stats", headers=member.headers)
    ).json()
    assert (empty["progress_percent"], empty["eta"]) == (0.0, None)
    pid = (await _empty_plan(client, member, project_id))["id"]
    a = await _task(client, member, pid, "A", 6, status="COMPLETED")
    b = await _task(client, member, pid, "B", 2)
    await _task(client, member, pid, "C", 4, status="CANCELLED")
    await _dep(client, member, pid, a, b)
    stats = (
        await client.get(f"/api/v1/projects/{project_id}/stats", headers=member.headers)
    ).json()
    assert stats["tasks_by_status"]["COMPLETED"] == 1
    assert stats["tasks_by_status"]["PENDING"] == 1
    assert stats["tasks_by_status"]["CANCELLED"] == 1
    assert stats["progress_percent"] == 75.0  # 6 of the 8 hours that count
    assert stats["eta"] is not None


async def test_a_model_draft_through_the_router_is_normalised(client, member, database, models):
    project_id = await _project(client, member, "Build a thing.")
    dev = await _agent(client, member, project_id, "Dev", "DEVELOPER", ["python"])
    draft = {
        "phases": [
            {
                "name": "All",
                "tasks": [
                    {"key": "a", "name": "Code", "estimate_hours": 3, "agent": "Ghost"},
                    {
                        "key": "b",
                        "name": "More code",
                        "estimate_hours": 2,
                        "required_skills": ["python", "cobol"],
                    },
                ],
            }
        ],
        "dependencies": [
            {"from_task": "a", "to_task": "b", "type": "SS", "lag_hours": 1},
            {"from_task": "b", "to_task": "a"},
        ],
    }

    def answer(request):  # type: ignore[no-untyped-def]
        # While the model "thinks", nobody may hold the write lock (SQLite): take it, now.
        if database.is_sqlite:
            path = database.url.split("///", 1)[1]
            with sqlite3.connect(path, timeout=0, isolation_level=None) as connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
        return json.dumps(draft)

    with llm.script(models, "plan-model", [answer]) as model:
        response = await client.post(
            f"/api/v1/projects/{project_id}/plans",
            json={"methodology": "agile"},
            headers=member.headers,
        )
        assert model.remaining == 0
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["generated_by"] == "scripted/plan-model"
    assert plan["methodology"] == "AGILE"
    (request,) = model.requests
    assert '"Dev"' in request.messages[-1].content
    assert "AGILE" in request.messages[-1].content
    assert [(t["name"], t["assigned_agent_id"], t["required_skills"]) for t in plan["tasks"]] == [
        ("Code", dev, []),
        ("More code", dev, ["python"]),
    ]
    assert [d["type"] for d in plan["dependencies"]] == ["SS"]  # the cycle's closing edge dropped


async def test_an_invalid_model_answer_falls_back_to_the_catalogue(client, member, models):
    project_id = await _project(client, member, "Build a shop. Write the copy.")
    await _agent(client, member, project_id, "Dev", "DEVELOPER", ["software engineering"])
    with llm.script(models, "plan-model", ["not json", '{"phases": []}', "{}"]):
        response = await client.post(
            f"/api/v1/projects/{project_id}/plans",
            json={"methodology": "WATERFALL"},
            headers=member.headers,
        )
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["generated_by"] == "catalogue"
    assert all(t["deliverable"] for t in plan["tasks"])


async def test_assign_by_skill_and_target(client, member):
    project_id = await _project(client, member)
    cheap = await _agent(client, member, project_id, "Cheap", "DEVELOPER", ["python"])
    dear = await _agent(client, member, project_id, "Dear", "DEVELOPER", ["python", "rust"])
    pid = (await _empty_plan(client, member, project_id))["id"]
    for agent_id, cost in ((cheap, 10), (dear, 90)):
        made = await client.post(
            f"{P}/{pid}/resources",
            json={"agent_id": agent_id, "cost_per_hour": cost},
            headers=member.headers,
        )
        assert made.status_code == 201, made.text
    rust = await _task(client, member, pid, "Rust work", 4, required_skills=["rust"])
    py = [
        await _task(client, member, pid, f"Py {n}", 4, required_skills=["python"]) for n in range(4)
    ]
    cost = await client.post(
        f"{P}/{pid}/assign", json={"optimization_target": "COST"}, headers=member.headers
    )
    assert cost.status_code == 200, cost.text
    chosen = cost.json()["assigned"]
    assert chosen[rust] == dear  # the only one with rust
    assert {chosen[t] for t in py} == {cheap}
    time = await client.post(
        f"{P}/{pid}/assign",
        json={"optimization_target": "TIME", "reassign_all": True},
        headers=member.headers,
    )
    spread = time.json()["assigned"]
    assert {spread[t] for t in py} == {cheap, dear}  # hours balanced
    tasks = (await client.get(f"{P}/{pid}", headers=member.headers)).json()["tasks"]
    assert all(t["status"] == "ASSIGNED" for t in tasks)
    assert {t["assigned_agent_id"] for t in tasks} == {cheap, dear}


async def test_an_empty_plan_has_an_empty_schedule(client, member):
    pid = (await _empty_plan(client, member, await _project(client, member)))["id"]
    for path in ("/schedule", "/bottlenecks", "/resources"):
        response = await client.get(f"{P}/{pid}{path}", headers=member.headers)
        assert response.status_code == 200, (path, response.text)
    s = (await client.get(f"{P}/{pid}/schedule", headers=member.headers)).json()
    assert (s["finish_hours"], s["critical_path"], s["tasks"]) == (0.0, [], [])
    level = await client.post(f"{P}/{pid}/level", headers=member.headers)
    assert level.json()["shifts"] == []


async def test_a_named_person_as_a_resource(client, member):
    project_id = await _project(client, member)
    pid = (await _empty_plan(client, member, project_id))["id"]
    other = (await _empty_plan(client, member, project_id))["id"]
    nameless = await client.post(f"{P}/{pid}/resources", json={}, headers=member.headers)
    assert nameless.status_code == 422
    ann = await client.post(
        f"{P}/{pid}/resources",
        json={"name": "Ann", "skills": ["Legal"], "capacity_hours_per_week": 20},
        headers=member.headers,
    )
    assert ann.status_code == 201, ann.text
    assert ann.json()["skills"] == ["legal"]
    ann_id = ann.json()["id"]
    task = await _task(
        client,
        member,
        pid,
        "Review terms",
        6,
        assigned_resource_id=ann_id,
        required_skills=["legal"],
    )
    elsewhere = await client.post(
        f"{P}/{other}/tasks",
        json={"name": "x", "estimate_hours": 1, "assigned_resource_id": ann_id},
        headers=member.headers,
    )
    assert elsewhere.status_code == 422
    loads = (await client.get(f"{P}/{pid}/resources", headers=member.headers)).json()
    (row,) = loads["resources"]
    assert (row["name"], row["allocated_hours"], row["task_ids"]) == ("Ann", 6.0, [task])
    # 20 h a week on a 40 h calendar is half a person: one task at a time is already too much.
    assert row["over_allocations"][0]["capacity"] == 0.5
    found = (await client.get(f"{P}/{pid}/bottlenecks", headers=member.headers)).json()
    assert not [b for b in found["bottlenecks"] if b["kind"] == "SKILL_GAP"]


@pytest.mark.parametrize("methodology", ["AGILE", "WATERFALL", "CRITICAL_PATH"])
async def test_done_when_a_generated_team_gets_a_valid_plan_and_schedule(
    client, member, methodology
):
    project_id = await _project(
        client,
        member,
        "Build an online shop for a bakery. Customers pay securely at checkout. "
        "Write friendly product descriptions and design a logo.",
    )
    team = await client.post(
        f"/api/v1/projects/{project_id}/agents/generate", json={}, headers=member.headers
    )
    assert team.status_code in (200, 201), team.text
    agents = await client.get(f"/api/v1/projects/{project_id}/agents", headers=member.headers)
    skills = {
        a["id"]: {s.lower() for s in a["specialisation"]["skills"]} for a in agents.json()["items"]
    }
    made = await client.post(
        f"/api/v1/projects/{project_id}/plans",
        json={"methodology": methodology},
        headers=member.headers,
    )
    assert made.status_code == 201, made.text
    plan = made.json()
    _assert_valid(plan, skills)
    s = (await client.get(f"{P}/{plan['id']}/schedule", headers=member.headers)).json()
    assert s["critical_path"]
    assert all(t["total_slack_hours"] >= 0 for t in s["tasks"])
    assert {t["task_id"] for t in s["tasks"] if t["critical"]} >= set(s["critical_path"])
    assert s["finish"]["p50"] <= s["finish"]["p80"] <= s["finish"]["p95"]
