"""The project pipeline: one call takes a DRAFT project through requirements -> team -> tools
bound by discovery -> plan -> (plan approval) -> run; the project then follows its run
(``runs/_effects.py``).

When a part is unavailable the workflow falls back (the RULES provider answers, a template
plan, a tool is skipped) and says so: a DEGRADED event in the run's outbox and a NOTIFICATION
for people. Never a silent gap.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.errors import BerrysError
from berrys.services.agents import service as agents
from berrys.services.agents.contracts import GenerateRequest
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import DependencyType
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import NotificationLevel
from berrys.services.llm import service as llm
from berrys.services.pipeline._plan_runs import create_from_plan
from berrys.services.planning import service as planning
from berrys.services.planning.contracts import (
    DependencyCreate,
    PlanCreate,
    PlanDetail,
    ScheduleOut,
    TaskCreate,
)
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectStatus
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunCreate, RunEventType, RunOut
from berrys.services.tools import service as tools
from berrys.services.tools.contracts import AgentToolBind, DiscoverRequest

_log = structlog.get_logger("berrys.workflow")

Stage = Callable[[str, str, str], Awaitable[None] | None]
TEMPLATE_TASKS = [
    ("Research and requirements", "Gather what the project needs and who it is for."),
    ("Draft the deliverables", "Write the main deliverables from the research."),
    ("Review and finalise", "Check the deliverables against the goals and polish them."),
]


@dataclass
class WorkflowResult:
    project_id: uuid.UUID
    run: RunOut
    team: list[dict[str, Any]] = field(default_factory=list)
    tools: dict[str, list[str]] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    degraded: list[dict[str, str]] = field(default_factory=list)
    stages: list[dict[str, str]] = field(default_factory=list)


@dataclass
class _Progress:
    """What the pipeline has said so far: its stages, and what it fell back on and why."""

    on_stage: Stage | None
    stages: list[dict[str, str]] = field(default_factory=list)
    degraded: list[dict[str, str]] = field(default_factory=list)

    async def say(self, name: str, status: str, detail: str = "", *, keep: bool = True) -> None:
        """Tell the caller; ``keep``: also among the stages the run's events record."""
        if keep:
            self.stages.append({"stage": name, "status": status, "detail": detail})
        if self.on_stage is None:
            return
        result = self.on_stage(name, status, detail)
        if result is not None:
            await result

    def degrade(self, name: str, fallback: str, reason: str) -> None:
        self.degraded.append({"stage": name, "fallback": fallback, "reason": reason[:500]})
        _log.info("workflow.degraded", stage=name, fallback=fallback, reason=reason[:200])


async def start(
    models: llm.Runtime,
    database: Database,
    *,
    embedder: llm.Embedder | None,
    project_id: uuid.UUID,
    user: UserOut,
    run_in: RunCreate | None = None,
    on_stage: Stage | None = None,
) -> WorkflowResult:
    """Requirements, team, tools, plan and a started run for ``project_id``.

    A stage a model or a service could not do falls back and says so (a DEGRADED event and
    a notification); an error no stage expects (a bug, the database gone) is raised."""
    progress = _Progress(on_stage)
    async with database.transaction() as session:
        await projects.advance(
            session,
            project_id=project_id,
            to_status=ProjectStatus.PLANNING,
            user=user,
            reason="workflow started",
        )
    team = await _draft_team(models, database, project_id, user, progress)
    bound = await _bind_tools(database, embedder, team, user, progress)
    plan = await _draft_plan(models, database, project_id, user, progress)
    summary = await _plan_summary(database, plan, user)
    await progress.say("plan", "done", f"{len(plan.tasks)} tasks, v{plan.version}")
    run = await _start_run(
        models, database, project_id, user, run_in or RunCreate(), plan, progress
    )
    await progress.say("run", "started", str(run.id), keep=False)
    return WorkflowResult(
        project_id=project_id,
        run=run,
        team=team,
        tools=bound,
        plan=summary,
        degraded=progress.degraded,
        stages=progress.stages,
    )


async def _draft_team(
    models: llm.Runtime,
    database: Database,
    project_id: uuid.UUID,
    user: UserOut,
    progress: _Progress,
) -> list[dict[str, Any]]:
    """Requirements and a team of agents (with the tools their roles name); none when that
    fails (tasks then run without an agent)."""
    await progress.say("team", "started", "requirements and team")
    try:
        generated = await agents.generate(
            models, database, project_id=project_id, request=GenerateRequest(), user=user
        )
        for key, source in generated.sources.items():
            if source.from_rules and source.fallback:
                reason = source.reason or f"a model failed the {key} step"
                progress.degrade(key, "the catalogue", reason)
        async with database.transaction(read_only=True) as session:
            team, _ = await agents.get_all(session, project_id=project_id, user=user, limit=200)
    except BerrysError as exc:
        progress.degrade("team", "no team (tasks run without an agent)", _why(exc))
        await progress.say("team", "degraded", str(exc)[:200])
        return []
    named_tools = {agent.name: agent.tools for agent in generated.team}
    drafted = [
        {
            "id": str(agent.id),
            "name": agent.name,
            "type": agent.agent_type.value,
            "role": agent.role,
            "tools": catalogue.tools_for(agent.agent_type, named_tools.get(agent.name, [])),
        }
        for agent in team
    ]
    counts = f"{len(generated.requirements)} requirements, {len(drafted)} agents"
    await progress.say("team", "done", counts)
    return drafted


async def _bind_tools(
    database: Database,
    embedder: llm.Embedder | None,
    team: list[dict[str, Any]],
    user: UserOut,
    progress: _Progress,
) -> dict[str, list[str]]:
    """Each agent's tools: those its role names, and up to two more found by discovery."""
    await progress.say("tools", "started", "discovering tools for each agent")
    if not team:
        await progress.say("tools", "skipped", "no team")
        return {}
    bound: dict[str, list[str]] = {}
    try:
        async with database.transaction() as session:
            await tools.ensure_builtin_tools(session)
    except BerrysError as exc:
        progress.degrade("tools", "no tools", _why(exc))
        await progress.say("tools", "degraded", str(exc)[:200])
        return bound
    for agent in team:
        try:
            bound[agent["name"]] = await _bind_for(database, embedder, agent, user)
        except BerrysError as exc:
            progress.degrade("tools", f"skip tools for {agent['name']}", str(exc))
    await progress.say("tools", "done", f"{sum(map(len, bound.values()))} bindings")
    return bound


async def _bind_for(
    database: Database, embedder: llm.Embedder | None, agent: dict[str, Any], user: UserOut
) -> list[str]:
    """The agent's named tools, then the best two discovery finds for its role; their names."""
    async with database.transaction() as session:
        named = await _bind_named(session, agent, user)
    found = await tools.discover(
        database,
        request=DiscoverRequest(query=f"{agent['role']} {agent['type'].lower()}", limit=3),
        user=user,
        embedder=embedder,
    )
    usable = [
        candidate
        for candidate in found.candidates
        if candidate.kind == "TOOL"
        and candidate.tool_id
        and candidate.score > 0
        and candidate.name not in named
    ][:2]
    async with database.transaction() as session:
        for candidate in usable:
            await tools.bind_agent_tool(
                session,
                agent_id=uuid.UUID(agent["id"]),
                binding_in=AgentToolBind(tool_id=candidate.tool_id),
                user=user,
            )
    return named + [candidate.name for candidate in usable]


async def _draft_plan(
    models: llm.Runtime,
    database: Database,
    project_id: uuid.UUID,
    user: UserOut,
    progress: _Progress,
) -> Any:
    """A generated plan, or the three-step template when it cannot be generated."""
    await progress.say("plan", "started", "drafting the plan")
    try:
        plan = await planning.create_plan(
            models, database, project_id=project_id, plan_in=PlanCreate(generate=True), user=user
        )
    except BerrysError as exc:
        progress.degrade("plan", "template plan", _why(exc))
        plan = await _template_plan(database, project_id=project_id, user=user)
    else:
        if plan.generated_by and plan.generated_by.startswith("catalogue (replaced"):
            progress.degrade("plan", "the catalogue's plan", plan.generated_by)
    return plan


async def _plan_summary(database: Database, plan: Any, user: UserOut) -> dict[str, Any]:
    """The plan's size, critical path and forecast, as the result reports it."""
    async with database.transaction(read_only=True) as session:
        schedule = await planning.get_schedule(session, plan_id=plan.id, user=user, iterations=200)
    return plan_summary(plan, schedule)


def plan_summary(plan: PlanDetail, schedule: ScheduleOut) -> dict[str, Any]:
    """A plan's size, critical path and forecast, as a run's result reports them."""
    names = {task.id: task.name for task in plan.tasks}
    return {
        "id": str(plan.id),
        "version": plan.version,
        "tasks": len(plan.tasks),
        "dependencies": len(plan.dependencies),
        "critical_path": [names[t] for t in schedule.critical_path if t in names],
        "finish_hours": schedule.finish_hours,
        "generated_by": plan.generated_by,
    }


async def _start_run(
    models: llm.Runtime,
    database: Database,
    project_id: uuid.UUID,
    user: UserOut,
    run_in: RunCreate,
    plan: Any,
    progress: _Progress,
) -> RunOut:
    """The run over the plan, with the stages in its events and a notification for each
    fallback, in one transaction."""
    options = {**run_in.options, "workflow": True}
    async with database.transaction() as session:
        run = await create_from_plan(
            session,
            models=models,
            database=database,
            project_id=project_id,
            run_in=run_in.model_copy(update={"plan_id": plan.id, "options": options}),
            user=user,
        )
        events = [(RunEventType.WORKFLOW_STAGE, item) for item in progress.stages] + [
            (RunEventType.DEGRADED, item) for item in progress.degraded
        ]
        await runs.add_events(session, run_id=run.id, events=events)
        for item in progress.degraded:
            await interactions.notify(
                session,
                project_id=project_id,
                run_id=run.id,
                title=f"Degraded: {item['stage']} used {item['fallback']}",
                message=item["reason"],
                level=NotificationLevel.WARNING,
            )
    return run


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def _bind_named(session: AsyncSession, agent: dict[str, Any], user: UserOut) -> list[str]:
    """Bind the built-in tools the agent's role names (a developer who builds can write)."""
    bound = []
    for name in agent["tools"]:
        tool = await tools.get_by_name(session, name=name)
        if tool is not None:
            await tools.bind_agent_tool(
                session,
                agent_id=uuid.UUID(agent["id"]),
                binding_in=AgentToolBind(tool_id=tool.id),
                user=user,
            )
            bound.append(name)
    return bound


async def _template_plan(database: Database, *, project_id: uuid.UUID, user: UserOut) -> Any:
    """A three-step plan (research -> draft -> review) when the plan could not be generated."""
    async with database.transaction() as session:
        plan = await planning.create(
            session,
            project_id=project_id,
            plan_in=PlanCreate(generate=False, name="Template plan"),
            user=user,
        )
        previous = None
        for name, description in TEMPLATE_TASKS:
            task = await planning.create_task(
                session,
                plan_id=plan.id,
                task_in=TaskCreate(name=name, description=description, estimate_hours=4),
                user=user,
            )
            if previous is not None:
                await planning.create_dependency(
                    session,
                    plan_id=plan.id,
                    dependency_in=DependencyCreate(
                        from_task_id=previous, to_task_id=task.id, type=DependencyType.FS
                    ),
                    user=user,
                )
            previous = task.id
        return await planning.get_detail(session, plan_id=plan.id, user=user)
