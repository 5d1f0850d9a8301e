"""The project workflow: one call takes a DRAFT project through requirements -> team -> tools
bound by discovery -> plan -> (plan approval) -> run.

The project's status follows its runs, however a run was started (this workflow, chat,
REST, the dashboard): :func:`follow_run` is called at each change of a run's status.

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
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.enums import (
    DependencyType,
    NotificationLevel,
    ProjectStatus,
    RunEventType,
    RunStatus,
)
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import service as catalogue
from berrys.services.interactions import service as interactions
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunCreate, RunOut
from berrys.services.runs.engine.events import Event, emit_many
from berrys.services.runs.engine.state import RUN_TERMINAL
from berrys.services.runs.tables import Run

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


async def _say(on_stage: Stage | None, stage: str, status: str, detail: str = "") -> None:
    if on_stage is None:
        return
    result = on_stage(stage, status, detail)
    if result is not None:
        await result


async def _move(
    session: AsyncSession, project_id: uuid.UUID, to: ProjectStatus, user: UserOut, reason: str
) -> None:
    """Move the project to ``to`` when its lifecycle allows (a DRAFT project passes through
    PLANNING on its way to IN_PROGRESS); otherwise leave it where it is."""
    project = await projects.get(session, project_id=project_id, user=user)
    path = [to]
    if project.status == ProjectStatus.DRAFT and to == ProjectStatus.IN_PROGRESS:
        path = [ProjectStatus.PLANNING, to]
    current = project.status
    for step in path:
        if current == step or step not in projects.TRANSITIONS[current]:
            return
        await projects.transition(
            session, project_id=project_id, to_status=step, user=user, reason=reason
        )
        current = step


async def start(
    database: Database,
    *,
    project_id: uuid.UUID,
    user: UserOut,
    run_in: RunCreate | None = None,
    on_stage: Stage | None = None,
) -> WorkflowResult:
    """Requirements, team, tools, plan and a started run for ``project_id``."""
    run_in = run_in or RunCreate()
    result_stages: list[dict[str, str]] = []
    degraded: list[dict[str, str]] = []

    async def stage(name: str, status: str, detail: str = "") -> None:
        result_stages.append({"stage": name, "status": status, "detail": detail})
        await _say(on_stage, name, status, detail)

    def degrade(name: str, fallback: str, reason: str) -> None:
        degraded.append({"stage": name, "fallback": fallback, "reason": reason[:500]})
        _log.info("workflow.degraded", stage=name, fallback=fallback, reason=reason[:200])

    async with database.transaction() as session:
        await _move(session, project_id, ProjectStatus.PLANNING, user, "workflow started")

    # Requirements and team -------------------------------------------------------------
    await stage("team", "started", "requirements and team")
    team: list[dict[str, Any]] = []
    try:
        from berrys.services.agents import generation
        from berrys.services.agents.contracts import GenerateRequest

        generated = await generation.generate(
            database, project_id=project_id, request=GenerateRequest(), user=user
        )
        for key, source in generated.sources.items():
            if source.from_rules and source.fallback:
                degrade(key, "the catalogue", source.reason or f"a model failed the {key} step")
        async with database.transaction(read_only=True) as session:
            from berrys.services.agents import service as agents

            agents_out, _ = await agents.get_all(
                session, project_id=project_id, user=user, limit=200
            )
        named_tools = {agent.name: agent.tools for agent in generated.team}
        team = [
            {
                "id": str(agent.id),
                "name": agent.name,
                "type": agent.agent_type.value,
                "role": agent.role,
                "tools": catalogue.tools_for(agent.agent_type, named_tools.get(agent.name, [])),
            }
            for agent in agents_out
        ]
        await stage(
            "team", "done", f"{len(generated.requirements)} requirements, {len(team)} agents"
        )
    except Exception as exc:
        degrade("team", "no team (tasks run without an agent)", f"{type(exc).__name__}: {exc}")
        await stage("team", "degraded", str(exc)[:200])

    # Tools bound by discovery -------------------------------------------------------------
    await stage("tools", "started", "discovering tools for each agent")
    bound: dict[str, list[str]] = {}
    if team:
        try:
            from berrys.services.tools import service as tools
            from berrys.services.tools.contracts import AgentToolBind, DiscoverRequest

            async with database.transaction() as session:
                await tools.ensure_builtin_tools(session)
            for agent in team:
                try:
                    async with database.transaction() as session:
                        named = await _bind_named(session, agent, user)
                    found = await tools.discover(
                        database,
                        request=DiscoverRequest(
                            query=f"{agent['role']} {agent['type'].lower()}", limit=3
                        ),
                        user=user,
                    )
                    usable = [
                        c
                        for c in found.candidates
                        if c.kind == "TOOL" and c.tool_id and c.score > 0 and c.name not in named
                    ][:2]
                    async with database.transaction() as session:
                        for candidate in usable:
                            await tools.bind_agent_tool(
                                session,
                                agent_id=uuid.UUID(agent["id"]),
                                binding_in=AgentToolBind(tool_id=candidate.tool_id),
                                user=user,
                            )
                    bound[agent["name"]] = named + [c.name for c in usable]
                except Exception as exc:
                    degrade("tools", f"skip tools for {agent['name']}", str(exc))
            await stage("tools", "done", f"{sum(map(len, bound.values()))} bindings")
        except Exception as exc:
            degrade("tools", "no tools", f"{type(exc).__name__}: {exc}")
            await stage("tools", "degraded", str(exc)[:200])
    else:
        await stage("tools", "skipped", "no team")

    # Plan -----------------------------------------------------------------------------------
    await stage("plan", "started", "drafting the plan")
    plan_info: dict[str, Any] = {}
    try:
        from berrys.services.planning import generation as plan_generation
        from berrys.services.planning.contracts import PlanCreate

        plan = await plan_generation.create_plan(
            database, project_id=project_id, plan_in=PlanCreate(generate=True), user=user
        )
        if plan.generated_by and plan.generated_by.startswith("catalogue (replaced"):
            degrade("plan", "the catalogue's plan", plan.generated_by)
    except Exception as exc:
        degrade("plan", "template plan", f"{type(exc).__name__}: {exc}")
        plan = await _template_plan(database, project_id=project_id, user=user)
    async with database.transaction(read_only=True) as session:
        from berrys.services.planning import insights

        schedule = await insights.get_schedule(session, plan_id=plan.id, user=user, iterations=200)
    names = {task.id: task.name for task in plan.tasks}
    plan_info = {
        "id": str(plan.id),
        "version": plan.version,
        "tasks": len(plan.tasks),
        "dependencies": len(plan.dependencies),
        "critical_path": [names[t] for t in schedule.critical_path if t in names],
        "finish_hours": schedule.finish_hours,
        "generated_by": plan.generated_by,
    }
    await stage("plan", "done", f"{len(plan.tasks)} tasks, v{plan.version}")

    # Run ------------------------------------------------------------------------------------
    options = {**run_in.options, "workflow": True}
    async with database.transaction() as session:
        run = await runs.create_from_plan(
            session,
            database=database,
            project_id=project_id,
            run_in=run_in.model_copy(update={"plan_id": plan.id, "options": options}),
            user=user,
        )
        events = [Event(RunEventType.WORKFLOW_STAGE, None, item) for item in result_stages] + [
            Event(RunEventType.DEGRADED, None, item) for item in degraded
        ]
        await emit_many(session, run.id, events)
        for item in degraded:
            await interactions.notify(
                session,
                project_id=project_id,
                run_id=run.id,
                title=f"Degraded: {item['stage']} used {item['fallback']}",
                message=item["reason"],
                level=NotificationLevel.WARNING,
            )
    await _say(on_stage, "run", "started", str(run.id))
    return WorkflowResult(
        project_id=project_id,
        run=run,
        team=team,
        tools=bound,
        plan=plan_info,
        degraded=degraded,
        stages=result_stages,
    )


async def _bind_named(session: AsyncSession, agent: dict[str, Any], user: UserOut) -> list[str]:
    """Bind the built-in tools the agent's role names (a developer who builds can write)."""
    from berrys.services.tools import service as tools
    from berrys.services.tools.contracts import AgentToolBind

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
    from berrys.services.planning import editing
    from berrys.services.planning import service as planning
    from berrys.services.planning.contracts import DependencyCreate, PlanCreate, TaskCreate

    async with database.transaction() as session:
        plan = await planning.create(
            session,
            project_id=project_id,
            plan_in=PlanCreate(generate=False, name="Template plan"),
            user=user,
        )
        previous = None
        for name, description in TEMPLATE_TASKS:
            task = await editing.create_task(
                session,
                plan_id=plan.id,
                task_in=TaskCreate(name=name, description=description, estimate_hours=4),
                user=user,
            )
            if previous is not None:
                await editing.create_dependency(
                    session,
                    plan_id=plan.id,
                    dependency_in=DependencyCreate(
                        from_task_id=previous, to_task_id=task.id, type=DependencyType.FS
                    ),
                    user=user,
                )
            previous = task.id
        return await planning.get_detail(session, plan_id=plan.id, user=user)


# A run in one of these has not finished with the project: it works, waits for a person,
# or holds drafts for review. The project's end waits for the last of them.
_OPEN = frozenset(set(RunStatus) - RUN_TERMINAL) | {RunStatus.COMPLETED_WITH_REVIEW}
_run = Run.__table__


async def follow_run(session: AsyncSession, *, run: Any, new: RunStatus) -> None:
    """The project follows its run's status change: IN_PROGRESS when the run works (RUNNING);
    at its end COMPLETED (all done; REVIEW with the ``review_project`` option) or REVIEW
    (FAILED or CANCELLED: a person looks), once no other run of the project is open.

    COMPLETED_WITH_REVIEW moves nothing: the project stays IN_PROGRESS until a person has
    accepted the last deliverable that needs review (the run then becomes COMPLETED). A move
    the project's lifecycle does not allow (it was archived, completed or moved by hand) is
    skipped."""
    from berrys.services.pipeline.executor import engine_user

    creator = (run.options or {}).get("created_by")
    target = _follows(run, new)
    if not creator or target is None:
        return  # the engine moves a project for the person who started its run, if anyone
    if new in RUN_TERMINAL and await _other_open_runs(session, run):
        return
    user = engine_user(uuid.UUID(creator))
    verb = "started" if new == RunStatus.RUNNING else new.value
    await _move(session, run.project_id, target, user, f"run {run.id} {verb}")


def _follows(run: Any, status: RunStatus) -> ProjectStatus | None:
    """Where a run in ``status`` takes its project, if anywhere."""
    if status == RunStatus.RUNNING:
        return ProjectStatus.IN_PROGRESS
    if status == RunStatus.COMPLETED:
        review = (run.options or {}).get("review_project")
        return ProjectStatus.REVIEW if review else ProjectStatus.COMPLETED
    if status in (RunStatus.FAILED, RunStatus.CANCELLED):
        # a stopped run is not a dead project: from REVIEW a new run can start (a run
        # cancelled before it started leaves a PLANNING project where it is)
        return ProjectStatus.REVIEW
    return None


async def _other_open_runs(session: AsyncSession, run: Any) -> bool:
    found = await session.execute(
        select(_run.c.id)
        .where(
            _run.c.project_id == run.project_id,
            _run.c.id != run.id,
            _run.c.status.in_(list(_OPEN)),
        )
        .limit(1)
    )
    return found.first() is not None
