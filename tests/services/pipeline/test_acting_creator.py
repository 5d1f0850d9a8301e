"""The engine acts for the run's creator as the database has them now: a creator who lost
access to the project (account deactivated, role VIEWER, project no longer theirs) pauses the
run with a reason people read on it; with access back, resumed, the run goes on."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update
from tests.services.runs.conftest import create_run, wait_for_status

from berrys.services.auth.contracts import UserRole
from berrys.services.auth.tables import UserAccount
from berrys.services.pipeline._executor import AgentExecutor
from berrys.services.projects.tables import Project
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus, TaskRunStatus, TaskSpec

pytestmark = pytest.mark.usefixtures("services")

LOSSES = {
    "deactivated": ({"is_active": False}, "no longer has an active account"),
    "viewer": ({"role": UserRole.VIEWER}, "may no longer change projects (role VIEWER)"),
}


async def _change_user(database, user_id: uuid.UUID, values: dict) -> None:
    async with database.transaction() as session:
        await session.execute(update(UserAccount).where(UserAccount.id == user_id).values(**values))


@pytest.mark.parametrize("loss", sorted(LOSSES))
async def test_a_creator_who_lost_access_pauses_the_run_until_it_is_back(
    services, database, settings, client, admin, member, project, start_worker, loss
):
    taken, why = LOSSES[loss]
    spec = TaskSpec(key="brief", name="Write the brief", description="One page.")
    run = await create_run(database, project, [spec], actor_id=member.id)
    await _change_user(database, member.id, taken)
    start_worker(
        AgentExecutor(
            settings=settings, database=database, models=services.models, tools=services.tools
        )
    )

    await wait_for_status(database, run.id, RunStatus.PAUSED)
    response = await client.get(f"/api/v1/runs/{run.id}", headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["paused"] is True
    (task,) = body["task_runs"]
    assert task["status"] == TaskRunStatus.READY.value
    assert task["attempt"] == 1  # handed back as it was: no attempt spent on it
    assert task["error"].startswith("Paused: ")
    assert why in task["error"]
    async with database.transaction(read_only=True) as session:
        events = await runs.events(session, run_id=run.id)
    assert {"by": None, "reason": task["error"]} in [
        event["payload"] for event in events if event["type"] == "RUN_PAUSED"
    ]

    await _change_user(database, member.id, {"is_active": True, "role": UserRole.MEMBER})
    resumed = await client.post(f"/api/v1/runs/{run.id}/resume", headers=admin.headers)
    assert resumed.status_code == 200, resumed.text
    ended = await wait_for_status(database, run.id, RunStatus.COMPLETED_WITH_REVIEW)
    assert ended.task_runs[0].status == TaskRunStatus.NEEDS_REVIEW  # the offline note
    assert ended.task_runs[0].error is None


async def test_a_creator_who_no_longer_sees_the_project_pauses_the_run(
    services, database, settings, client, admin, member, other_member, project, start_worker
):
    spec = TaskSpec(key="brief", name="Write the brief", description="One page.")
    run = await create_run(database, project, [spec], actor_id=member.id)
    async with database.transaction() as session:  # the project handed to someone else
        await session.execute(
            update(Project).where(Project.id == project.id).values(owner_id=other_member.id)
        )
    start_worker(
        AgentExecutor(
            settings=settings, database=database, models=services.models, tools=services.tools
        )
    )

    await wait_for_status(database, run.id, RunStatus.PAUSED)
    response = await client.get(f"/api/v1/runs/{run.id}", headers=admin.headers)
    (task,) = response.json()["task_runs"]
    assert task["error"] == (
        f"Paused: {member.email}, who started this run, can no longer see its project. "
        "Give them access again and resume the run, or cancel it."
    )


async def test_a_run_nobody_started_is_not_carried_out_by_anyone(
    services, database, settings, client, admin, project, start_worker
):
    spec = TaskSpec(key="brief", name="Write the brief", description="One page.")
    run = await create_run(database, project, [spec])  # no creator to act for
    start_worker(
        AgentExecutor(
            settings=settings, database=database, models=services.models, tools=services.tools
        )
    )

    await wait_for_status(database, run.id, RunStatus.PAUSED)
    response = await client.get(f"/api/v1/runs/{run.id}", headers=admin.headers)
    (task,) = response.json()["task_runs"]
    assert task["error"].startswith("Paused: nobody started this run")
