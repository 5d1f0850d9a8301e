"""A project run in this process, from a sentence to artifacts (what ``berrys run`` does).

A worker for the run alone carries it out here while its progress is read back; the
questions it asks are handed to the caller to answer (a terminal, a script). Its outcome is
read back from the database, so a resumed run's summary is the first run's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from berrys.config import Settings
from berrys.core.db import Database
from berrys.core.errors import BerrysError
from berrys.services.agents import service as agents
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import service as catalogue
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import (
    InteractionOut,
    InteractionResponse,
    InteractionStatus,
)
from berrys.services.llm import service as llm
from berrys.services.pipeline import _runtime
from berrys.services.pipeline._project import Stage, WorkflowResult, plan_summary, start
from berrys.services.planning import service as plans
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate, ProjectStatus
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RUN_TERMINAL, RunCreate, RunEventType, RunOut
from berrys.services.tools import service as tools

# A worker for one run in a terminal: short leases (a Ctrl-C'd run is taken over soon).
LOCAL_ENGINE = runs.EngineConfig(lease_seconds=15.0, heartbeat_seconds=3.0, poll_seconds=0.1)
POLL_SECONDS = 0.25  # how often progress is read back (a display's refresh interval)

# Answers one question the run asks (with :func:`answer_question`).
Answer = Callable[[InteractionOut], Awaitable[None]]


async def start_from_description(
    models: llm.Runtime,
    database: Database,
    *,
    embedder: llm.Embedder | None,
    description: str,
    user: UserOut,
    run_in: RunCreate,
    on_created: Callable[[uuid.UUID, str], None],
    on_stage: Stage,
) -> WorkflowResult:
    """A project for ``description``, taken through the pipeline to a started run;
    ``on_created(project_id, name)`` is told of the project first."""
    async with database.transaction() as session:
        project = await projects.create(
            session,
            project_in=ProjectCreate(name=catalogue.title(description), description=description),
            user=user,
        )
    on_created(project.id, project.name)
    return await start(
        models,
        database,
        embedder=embedder,
        project_id=project.id,
        user=user,
        run_in=run_in,
        on_stage=on_stage,
    )


async def resume_here(
    database: Database, *, run_id: uuid.UUID, user: UserOut
) -> tuple[RunOut, int]:
    """The run again, resumed if it was paused (a Ctrl-C), its tasks held by a stopped
    process of this machine freed at once; and how many were."""
    async with database.transaction() as session:
        run = await runs.get(session, run_id=run_id, user=user)
        if run.paused and run.status not in RUN_TERMINAL:
            run = await runs.resume(session, run_id=run_id, user=user)
        freed = await runs.release_dead_leases(
            session, run_id=run_id, is_dead=_runtime.local_worker_is_dead
        )
    return run, freed


async def pause_here(database: Database, *, run_id: uuid.UUID, user: UserOut | None) -> None:
    """Pause the run (when it still works) so that no worker carries it on."""
    async with database.transaction() as session:
        current = await runs.get(session, run_id=run_id)
        if current.status not in RUN_TERMINAL and not current.paused:
            await runs.pause(session, run_id=run_id, user=user)


async def carry_out(
    database: Database,
    settings: Settings,
    run: RunOut,
    *,
    models: llm.Runtime,
    invoker: tools.ToolInvoker,
    on_progress: Callable[[RunOut], None],
    answer: Answer,
) -> RunOut:
    """Run a worker for ``run`` here until the run ends; each reading of it goes to
    ``on_progress``, each question it asks to ``answer``. The run as it ended."""
    worker = _runtime.BackgroundWorker(
        database,
        _runtime.default_executor(settings, database, models=models, tools=invoker),
        config=LOCAL_ENGINE,
        run_ids={run.id},
    ).start()
    try:
        while True:
            async with database.transaction(read_only=True) as session:
                current = await runs.get(session, run_id=run.id)
            on_progress(current)
            if current.status in RUN_TERMINAL:
                return current
            for item in await _pending(database, current.project_id):
                await answer(item)
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await worker.stop()


async def _pending(database: Database, project_id: uuid.UUID) -> list[InteractionOut]:
    async with database.transaction(read_only=True) as session:
        items, _ = await interactions.get_all(
            session,
            limit=50,
            offset=0,
            project_id=project_id,
            status=InteractionStatus.PENDING,
        )
    return list(reversed(items))


async def answer_question(
    database: Database, item: InteractionOut, response: InteractionResponse
) -> str | None:
    """Answer ``item`` (as the operator); why it could not be, if it was answered elsewhere
    meanwhile (the dashboard, another terminal)."""
    try:
        async with database.transaction() as session:
            await runs.respond_interaction(
                session, interaction_id=item.id, response=response, user=None
            )
    except BerrysError as exc:
        return f"Could not answer {item.id}: {exc}"
    return None


async def run_outcome(
    database: Database, settings: Settings, run: RunOut, user: UserOut
) -> dict[str, Any]:
    """What the run produced, as ``berrys run`` reports it: the team, the plan, what was
    degraded, the run, its review summary, the project's status and workspace."""
    result = await _context(database, run, user)
    async with database.transaction(read_only=True) as session:
        project = await projects.get(session, project_id=run.project_id, user=user)
        profile = await catalogue.get_profile(session, project_id=run.project_id, user=user)
    if profile is not None:
        understood = {"title", "types", "constraints", "requirements", "source"}
        result["understanding"] = profile.model_dump(mode="json", include=understood)
    workspace = settings.workspace_dir(run.project_id)
    result.update(
        run=run.model_dump(mode="json"),
        review=runs.review_summary(run).model_dump(mode="json"),
        project_id=str(run.project_id),
        project_status=ProjectStatus(project.status).value,
        workspace=str(workspace.resolve()),
    )
    return result


async def _context(database: Database, run: RunOut, user: UserOut) -> dict[str, Any]:
    """The team with its tools, the plan with its critical path and what was degraded."""
    context: dict[str, Any] = {"team": [], "tools": {}, "plan": {}, "degraded": []}
    async with database.transaction(read_only=True) as session:
        team, _ = await agents.get_all(session, project_id=run.project_id, user=user, limit=200)
        for agent in team:
            bound = [t.name for t in await tools.get_agent_tools(session, agent_id=agent.id)]
            context["team"].append(
                {
                    "id": str(agent.id),
                    "name": agent.name,
                    "type": agent.agent_type.value,
                    "role": agent.role,
                    "tools": bound,
                }
            )
            context["tools"][agent.name] = bound
        if run.plan_id is not None:
            context["plan"] = await _plan(session, run.plan_id, user)
        context["degraded"] = await _degraded(session, run.id)
    return context


async def _plan(session: Any, plan_id: uuid.UUID, user: UserOut) -> dict[str, Any]:
    plan = await plans.get_detail(session, plan_id=plan_id, user=user)
    schedule = await plans.get_schedule(session, plan_id=plan.id, user=user, iterations=200, seed=0)
    return plan_summary(plan, schedule)


async def _degraded(session: Any, run_id: uuid.UUID) -> list[dict[str, Any]]:
    """What the run's pipeline fell back on (its DEGRADED events)."""
    degraded: list[dict[str, Any]] = []
    after = 0
    while True:
        events = await runs.events(session, run_id=run_id, after_seq=after, limit=500)
        if not events:
            return degraded
        after = events[-1]["seq"]
        degraded += [e["payload"] for e in events if e["type"] == RunEventType.DEGRADED]
