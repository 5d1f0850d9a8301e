"""The project workflow in one call: DRAFT -> PLANNING -> IN_PROGRESS, offline drafts that
need a person (COMPLETED_WITH_REVIEW), then COMPLETED once a person accepts them; fallbacks
recorded as DEGRADED events and NOTIFICATIONs."""

from __future__ import annotations

import pytest
from tests.services.runs.conftest import wait_for_status

from berrys.core.errors import ServiceUnavailable
from berrys.services.auth import service as auth
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import HumanInteractionType
from berrys.services.pipeline import service as pipeline
from berrys.services.pipeline._executor import AgentExecutor
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate, ProjectStatus
from berrys.services.runs import _review
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import (
    ReviewDecision,
    RunCreate,
    RunStatus,
    TaskReview,
    TaskRunStatus,
)

DESCRIPTION = "Write a launch plan and announcement for a neighbourhood bakery's new website"


pytestmark = pytest.mark.usefixtures("services")


async def _project(database, member):
    async with database.transaction() as session:
        user = await auth.get_by_email(session, email=member.email)
        project = await projects.create(
            session, project_in=ProjectCreate(name="Bakery", description=DESCRIPTION), user=user
        )
    return user, project


async def _kinds(database, run_id):
    async with database.transaction(read_only=True) as session:
        return [e["type"] for e in await runs.events(session, run_id=run_id, limit=10_000)]


async def test_one_call_takes_a_draft_project_to_reviewed_drafts_then_completed(
    services, database, settings, member, start_worker
):
    user, project = await _project(database, member)
    stages = []
    result = await pipeline.start(
        services.models,
        database,
        embedder=services.embedder,
        project_id=project.id,
        user=user,
        run_in=RunCreate(options={"risk_approval": False}),
        on_stage=lambda stage, status, detail: stages.append((stage, status)),
    )
    assert ("team", "done") in stages
    assert ("plan", "done") in stages
    assert len(result.team) >= 2
    assert result.plan["critical_path"]
    async with database.transaction(read_only=True) as session:
        current = await projects.get(session, project_id=project.id, user=user)
    assert current.status == ProjectStatus.PLANNING  # the run exists; it has not started
    start_worker(
        AgentExecutor(
            settings=settings, database=database, models=services.models, tools=services.tools
        )
    )
    drafted = await wait_for_status(
        database, result.run.id, RunStatus.COMPLETED_WITH_REVIEW, within=60
    )
    # Offline every deliverable is a catalogue draft with TODOs for a person: none is final.
    assert {t.status for t in drafted.task_runs} == {TaskRunStatus.NEEDS_REVIEW}
    assert all(t.review_reasons for t in drafted.task_runs)
    assert len(drafted.artifacts) >= len(drafted.task_runs)
    async with database.transaction(read_only=True) as session:
        current = await projects.get(session, project_id=project.id, user=user)
    assert current.status == ProjectStatus.IN_PROGRESS
    for task in drafted.task_runs:
        async with database.transaction() as session:
            await _review.decide(
                session,
                run_id=result.run.id,
                task_run_id=task.id,
                review=TaskReview(action=ReviewDecision.ACCEPT),
                user=user,
                workspace=settings.workspaces_dir,
            )
    await wait_for_status(database, result.run.id, RunStatus.COMPLETED, within=10)
    async with database.transaction(read_only=True) as session:
        current = await projects.get(session, project_id=project.id, user=user)
        history, _ = await projects.get_history(
            session, project_id=project.id, user=user, limit=20, offset=0
        )
        notes, _ = await interactions.get_all(
            session,
            limit=50,
            offset=0,
            project_id=project.id,
            type=HumanInteractionType.NOTIFICATION,
        )
    assert current.status == ProjectStatus.COMPLETED
    assert [h.to_status for h in history] == [
        ProjectStatus.DRAFT,
        ProjectStatus.PLANNING,
        ProjectStatus.IN_PROGRESS,
        ProjectStatus.COMPLETED,
    ]
    kinds = await _kinds(database, result.run.id)
    assert kinds.count("WORKFLOW_STAGE") == len(result.stages)
    # Offline the catalogue is the designed path, not a fallback: nothing is degraded.
    assert kinds.count("DEGRADED") == len(result.degraded) == len(notes) == 0


async def test_a_plan_that_cannot_be_generated_falls_back_to_the_template(
    services, database, settings, member, start_worker, monkeypatch
):
    from berrys.services.planning import service as planning

    async def broken(*args, **kwargs):
        raise ServiceUnavailable("planner offline")

    monkeypatch.setattr(planning, "create_plan", broken)
    user, project = await _project(database, member)
    result = await pipeline.start(
        services.models,
        database,
        embedder=services.embedder,
        project_id=project.id,
        user=user,
        run_in=RunCreate(options={"review_project": True, "risk_approval": False}),
    )
    assert result.plan["tasks"] == len(pipeline.TEMPLATE_TASKS)
    assert any(d["fallback"] == "template plan" for d in result.degraded)
    start_worker(
        AgentExecutor(
            settings=settings, database=database, models=services.models, tools=services.tools
        )
    )
    await wait_for_status(database, result.run.id, RunStatus.COMPLETED_WITH_REVIEW, within=60)
    async with database.transaction(read_only=True) as session:
        current = await projects.get(session, project_id=project.id, user=user)
    assert current.status == ProjectStatus.IN_PROGRESS  # until a person accepts the drafts


async def test_an_error_no_stage_expects_is_raised_not_papered_over(
    services, database, member, monkeypatch
):
    from berrys.services.planning import service as planning

    async def buggy(*args, **kwargs):
        raise RuntimeError("a bug in the planner")

    monkeypatch.setattr(planning, "create_plan", buggy)
    user, project = await _project(database, member)
    with pytest.raises(RuntimeError, match="a bug in the planner"):
        await pipeline.start(
            services.models,
            database,
            embedder=services.embedder,
            project_id=project.id,
            user=user,
        )
