"""Plan generation: project + team -> phases, tasks, dependencies, estimates, assignments.

The draft comes from the model router (structured output, ``PlanDraft``, given the
catalogue's breakdown as guidance) with the catalogue's plan for the methodology as its
fallback; a model's plan with unassigned or unestimated tasks or names copied from the
description is replaced by the catalogue's. Any draft is then normalised so that a plan
always validates: acyclic, every task assigned to an agent whose skills cover the task's,
estimates positive and ordered. No transaction is held across the model call: the project
and team are read in one short transaction, the plan written in another.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core import tracing
from berrys.core.db import Database
from berrys.core.errors import Unprocessable
from berrys.services.agents import service as agents
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import Methodology
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import ChatMessage, CompletionRequest, ModelTaskType
from berrys.services.planning import _schedule as engine
from berrys.services.planning import _versions
from berrys.services.planning._common import DEFAULT_METHODOLOGY
from berrys.services.planning.contracts import (
    DependencyDraft,
    PlanCreate,
    PlanDetail,
    PlanDraft,
    TaskDraft,
    TaskStatus,
)
from berrys.services.planning.tables import PlanDependency, PlanMilestone, PlanPhase, PlanTask
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectOut

_log = structlog.get_logger("berrys.planning")
CATALOGUE = "catalogue"

INSTRUCTIONS = (
    'You plan projects for a team of AI agents. Return JSON with "phases": a list of '
    '{"name", "description", "tasks": [{"key" (unique short id such as T1), "name", '
    '"description", "acceptance_criteria" (list), "estimate_hours" (most likely, > 0), '
    '"optimistic_hours", "pessimistic_hours", "required_skills" (taken from the assigned '
    'agent\'s skills), "priority" (LOW, MEDIUM, HIGH, CRITICAL), "risk_level" (LOW, MEDIUM, '
    'HIGH, CRITICAL), "agent" (the name of the team member who does it)}]}, "dependencies": '
    'a list of {"from_task", "to_task" (task keys), "type" (FS, SS, FF or SF), "lag_hours"} '
    'without cycles, and "milestones": a list of {"name", "phase", "task_keys"}. Follow the '
    "methodology: AGILE plans sprints ending in reviews, WATERFALL sequential phases closed by "
    "reviews, CRITICAL_PATH the least constrained network of parallel streams."
)


async def _complete(
    models: llm.Runtime,
    database: Database,
    *,
    messages: list[ChatMessage],
    rules_answer: Callable[[], PlanDraft],
    project_id: uuid.UUID,
    user_id: uuid.UUID,
) -> tuple[PlanDraft, str]:
    """The draft through the model router (the catalogue's plan is its last fallback), and who
    wrote it: ``catalogue`` or ``<provider>/<model>``."""
    completion = await llm.complete(
        models,
        database,
        CompletionRequest(
            messages=messages,
            task_type=ModelTaskType.PLAN,
            response_schema=PlanDraft,
            rules=rules_answer,
            project_id=project_id,
            user_id=user_id,
        ),
    )
    parsed = completion.parsed
    draft = parsed if isinstance(parsed, PlanDraft) else PlanDraft.model_validate(parsed)
    if completion.from_rules:
        return draft, CATALOGUE
    return draft, f"{completion.provider.value}/{completion.model}".lower()


def normalise(draft: PlanDraft, team: Sequence[catalogue.Member]) -> tuple[PlanDraft, list[str]]:
    """Enforce a generated plan's invariants on any draft; return it and what was changed."""
    notes: list[str] = []
    members = {m.name: m for m in team}
    skills_of = {m.name: {s.lower() for s in m.skills} for m in team}
    load = dict.fromkeys(members, 0.0)
    seen: set[str] = set()
    phases = []
    for phase in draft.phases:
        tasks = []
        for task in phase.tasks:
            key = task.key
            while key in seen:
                key = f"{task.key}-{len(seen)}"
            if key != task.key:
                notes.append(f"renamed a second task key {task.key!r} to {key!r}")
            seen.add(key)
            tasks.append(
                _fit(task.model_copy(update={"key": key}), members, skills_of, load, notes)
            )
        phases.append(phase.model_copy(update={"tasks": tasks}))
    deps: list[DependencyDraft] = []
    pairs: set[tuple[str, str]] = set()
    order = list(seen)
    index = {k: i for i, k in enumerate(order)}
    for dep in draft.dependencies:
        pair = (dep.from_task, dep.to_task)
        if dep.from_task not in index or dep.to_task not in index or pair[0] == pair[1]:
            notes.append(f"dropped a dependency naming an unknown task: {pair[0]} -> {pair[1]}")
            continue
        if pair in pairs:
            continue
        edges = [(index[d.from_task], index[d.to_task]) for d in deps] + [
            (index[pair[0]], index[pair[1]])
        ]
        if engine.find_cycle(len(order), [a for a, _ in edges], [b for _, b in edges]):
            notes.append(f"dropped a dependency that closed a cycle: {pair[0]} -> {pair[1]}")
            continue
        pairs.add(pair)
        deps.append(dep)
    milestones = [
        m.model_copy(update={"task_keys": [k for k in m.task_keys if k in index]})
        for m in draft.milestones
    ]
    return PlanDraft(phases=phases, dependencies=deps, milestones=milestones), notes


def _fit(
    task: TaskDraft,
    members: dict[str, catalogue.Member],
    skills_of: dict[str, set[str]],
    load: dict[str, float],
    notes: list[str],
) -> TaskDraft:
    likely = task.estimate_hours
    low = min(task.optimistic_hours or likely, likely)
    high = max(task.pessimistic_hours or likely, likely)
    needed = {s.lower() for s in task.required_skills}
    agent = task.agent if task.agent in members and needed <= skills_of[task.agent] else None
    if agent is None:
        fitting = [name for name in members if needed <= skills_of[name]]
        if not fitting:  # nobody has them all: the best cover, keeping the skills it has
            best = max(members, key=lambda name: (len(needed & skills_of[name]), -load[name]))
            dropped = sorted(needed - skills_of[best])
            needed &= skills_of[best]
            notes.append(f"{task.key}: no agent has {', '.join(dropped)}; kept what {best} has")
            fitting = [best]
        agent = min(fitting, key=lambda name: (load[name], name))
        if task.agent != agent:
            notes.append(f"{task.key}: assigned to {agent} by skill match")
    load[agent] += likely
    return task.model_copy(
        update={
            "agent": agent,
            "required_skills": sorted(needed),
            "optimistic_hours": low if task.optimistic_hours is not None else None,
            "pessimistic_hours": high if task.pessimistic_hours is not None else None,
        }
    )


async def create_plan(
    models: llm.Runtime,
    database: Database,
    *,
    project_id: uuid.UUID,
    plan_in: PlanCreate,
    user: UserOut,
) -> PlanDetail:
    """A new current plan: empty, or generated from the project's description and team."""
    if not plan_in.generate:
        async with database.transaction() as session:
            await projects.get(session, project_id=project_id, user=user)
            plan = await _versions.create(
                session, project_id=project_id, plan_in=plan_in, user=user
            )
            return await _versions.get_detail(session, plan_id=plan.id, user=user)
    attributes = {"berrys.project.id": str(project_id)}
    with tracing.span(tracing.PLAN, attributes=attributes) as span:
        generated = await _generate(
            models, database, project_id=project_id, plan_in=plan_in, user=user
        )
        span.set_attributes(
            {
                "berrys.plan.id": str(generated.id),
                "berrys.plan.source": generated.generated_by or "",
            }
        )
        return generated


async def _generate(
    models: llm.Runtime,
    database: Database,
    *,
    project_id: uuid.UUID,
    plan_in: PlanCreate,
    user: UserOut,
) -> PlanDetail:
    """A plan drafted from the project's description and team, written as its current plan."""
    async with database.transaction(read_only=True) as session:
        project = await projects.get(session, project_id=project_id, user=user)
        team_out, _ = await agents.get_all(session, project_id=project_id, user=user, limit=200)
        profile = await catalogue.get_profile(session, project_id=project_id, user=user)
    if not team_out:
        raise Unprocessable(
            "The project has no agents to assign tasks to: generate a team first "
            f"(POST /api/v1/projects/{project_id}/agents/generate) or create the plan with "
            '"generate": false'
        )
    team = [
        catalogue.Member(a.name, a.agent_type, tuple(s.lower() for s in a.specialisation.skills))
        for a in team_out
    ]
    methodology = plan_in.methodology or DEFAULT_METHODOLOGY
    understood = await catalogue.understand(
        models, project.description or project.name, types=profile.types if profile else None
    )
    draft, source = await _draft(
        models,
        database,
        project,
        team,
        requirements=list(dict.fromkeys(r for a in team_out for r in a.requirements)),
        methodology=methodology,
        guide=catalogue.plan_draft(understood, team, methodology),
        user=user,
    )
    ids = {a.name: a.id for a in team_out}
    async with database.transaction() as session:
        plan = await _versions.create(
            session,
            project_id=project_id,
            plan_in=plan_in.model_copy(update={"methodology": methodology}),
            user=user,
            generated_by=source,
        )
        await _write(session, plan.id, draft, ids)
        return await _versions.get_detail(session, plan_id=plan.id, user=user)


async def _draft(
    models: llm.Runtime,
    database: Database,
    project: ProjectOut,
    team: list[catalogue.Member],
    *,
    requirements: list[str],
    methodology: Methodology,
    guide: PlanDraft,
    user: UserOut,
) -> tuple[PlanDraft, str]:
    """The normalised draft and where it came from: a model's, or the catalogue's ``guide``
    (the fallback, and the replacement for a model's plan with problems)."""
    content = json.dumps(
        {
            "project": project.name,
            "description": project.description,
            "methodology": methodology.value,
            "requirements": requirements,
            "team": [
                {"name": m.name, "type": m.agent_type.value, "skills": m.skills} for m in team
            ],
            "guidance": _guidance(guide),
        },
        ensure_ascii=False,
    )
    draft, source = await _complete(
        models,
        database,
        messages=[
            ChatMessage(role="system", content=INSTRUCTIONS),
            ChatMessage(role="user", content=content),
        ],
        rules_answer=lambda: guide,
        project_id=project.id,
        user_id=user.id,
    )
    draft, notes = normalise(draft, team)
    if source != CATALOGUE:
        problems = catalogue.plan_problems(draft, project.description, [m.name for m in team])
        if problems:
            _log.info("planning.model_plan_replaced", project_id=str(project.id), problems=problems)
            draft, notes = normalise(guide, team)
            source = f"{CATALOGUE} (replaced {source}: {'; '.join(problems)})"[:200]
    if notes:
        _log.info("planning.draft_normalised", project_id=str(project.id), notes=notes[:20])
    return draft, source


async def _write(
    session: AsyncSession, plan_id: uuid.UUID, draft: PlanDraft, agent_ids: dict[str, uuid.UUID]
) -> None:
    keys: dict[str, uuid.UUID] = {}
    phase_ids: dict[str, uuid.UUID] = {}
    position = 0
    for number, phase in enumerate(draft.phases):
        row = PlanPhase(
            plan_id=plan_id, name=phase.name, description=phase.description, position=number
        )
        session.add(row)
        await session.flush()
        phase_ids.setdefault(phase.name, row.id)
        for task in phase.tasks:
            keys[task.key] = uuid.uuid4()
            agent_id = agent_ids.get(task.agent or "")
            session.add(
                PlanTask(
                    id=keys[task.key],
                    plan_id=plan_id,
                    phase_id=row.id,
                    position=position,
                    name=task.name,
                    description=task.description,
                    acceptance_criteria=list(task.acceptance_criteria),
                    estimate_hours=task.estimate_hours,
                    optimistic_hours=task.optimistic_hours,
                    pessimistic_hours=task.pessimistic_hours,
                    required_skills=list(task.required_skills),
                    priority=task.priority,
                    risk_level=task.risk_level,
                    status=TaskStatus.ASSIGNED if agent_id else TaskStatus.PENDING,
                    assigned_agent_id=agent_id,
                    deliverable=task.deliverable,
                )
            )
            position += 1
    await session.flush()
    for dep in draft.dependencies:
        session.add(
            PlanDependency(
                plan_id=plan_id,
                from_task_id=keys[dep.from_task],
                to_task_id=keys[dep.to_task],
                dependency_type=dep.type,
                lag_hours=dep.lag_hours,
            )
        )
    for milestone in draft.milestones:
        session.add(
            PlanMilestone(
                plan_id=plan_id,
                phase_id=phase_ids.get(milestone.phase or ""),
                name=milestone.name,
                task_ids=[str(keys[k]) for k in milestone.task_keys],
            )
        )
    await session.flush()


def _guidance(guide: PlanDraft) -> list[dict[str, object]]:
    """The catalogue's breakdown, as guidance for a model: phases and task names."""
    return [
        {"phase": phase.name, "tasks": [f"{t.name} ({t.estimate_hours} h)" for t in phase.tasks]}
        for phase in guide.phases
    ]
