"""The catalogue service: project types and deliverable types, understanding a description
(types, sizes, requirements, title), the team and plan drafts that follow from it, and the
checks a model's own drafts must pass."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.config import Settings
from berrys.core.enums import Priority
from berrys.services.agents.contracts import DEFAULT_AGENT_PROMPT, AgentDraft, TeamDraft
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import _breakdown, _classify, _particulars, _text
from berrys.services.catalogue._catalogue import (
    SHIPPED,
    Catalogue,
    CatalogueError,
    build,
    load,
)
from berrys.services.catalogue._work import Breakdown, PlannedTask, words
from berrys.services.catalogue.contracts import (
    AgentType,
    DeliverableType,
    DependencyType,
    Methodology,
    Particulars,
    ProfileOut,
    ProjectType,
    ProjectTypeSummary,
    Risk,
    RiskLevel,
    TypeMatch,
)
from berrys.services.catalogue.tables import ProjectProfile
from berrys.services.llm import service as llm
from berrys.services.planning.contracts import (
    DependencyDraft,
    MilestoneDraft,
    PhaseDraft,
    PlanDraft,
    TaskDraft,
)
from berrys.services.projects import service as projects

__all__ = [
    "SHIPPED",
    "Breakdown",
    "Catalogue",
    "CatalogueError",
    "Member",
    "build",
    "current",
    "deliverable_for",
    "deliverable_type",
    "get_profile",
    "particulars",
    "plan_draft",
    "plan_problems",
    "prepare",
    "project_type",
    "risks_for",
    "save_profile",
    "shipped",
    "summary",
    "team_draft",
    "team_problems",
    "title",
    "tools_for",
    "understand",
]

_log = structlog.get_logger("berrys.catalogue")


def current(settings: Settings) -> Catalogue:
    """The shipped catalogue with the user's additions (``settings.catalogue_dir``). A broken
    file of the user's is logged and left out (``berrys catalogue validate`` names it); a
    broken shipped file raises."""
    try:
        return load(settings.catalogue_dir)
    except CatalogueError as exc:
        if exc.path.is_relative_to(SHIPPED):
            raise
        _log.error("catalogue.user_file_invalid", file=str(exc.path), problems=exc.problems)
        return load(None)


def shipped() -> Catalogue:
    """The catalogue Berrys ships, without the user's additions."""
    return load(None)


def project_types(known: Catalogue) -> list[ProjectType]:
    return sorted(known.types.values(), key=lambda t: t.key)


def summary(project_type: ProjectType) -> ProjectTypeSummary:
    return ProjectTypeSummary(
        key=project_type.key,
        version=project_type.version,
        name=project_type.name,
        summary=project_type.summary,
        team=[f"{r.name} ({r.agent_type.value})" for r in project_type.team],
        tasks=len(project_type.tasks),
        deliverables=sorted({t.deliverable for t in project_type.tasks}),
    )


def project_type(known: Catalogue, key: str) -> ProjectType | None:
    return known.types.get(key)


def deliverable_type(known: Catalogue, key: str | None) -> DeliverableType | None:
    return known.deliverables.get(key) if key else None


def deliverable_for(known: Catalogue, key: str | None, description: str) -> DeliverableType | None:
    """Deliverable type ``key`` as this project needs it: each section's standard content
    with the lines kept for what ``description`` mentions."""
    found = deliverable_type(known, key)
    if found is None or not any(section.standard_when for section in found.sections):
        return found
    sections = [
        section.model_copy(
            update={
                "standard": [
                    *section.standard,
                    *(
                        line
                        for case in section.standard_when
                        if _text.matched(description, case.when_any)
                        for line in case.lines
                    ),
                ],
                "standard_when": [],
            }
        )
        for section in found.sections
    ]
    return found.model_copy(update={"sections": sections})


def risks_for(project_type: ProjectType, description: str) -> list[Risk]:
    """The type's risks that apply to ``description`` (those with ``when_any`` only if it
    mentions one of them, none with ``unless_any`` if it mentions one of those)."""
    return [
        risk
        for risk in project_type.risks
        if not (risk.unless_any and _text.matched(description, risk.unless_any))
        and (not risk.when_any or _text.matched(description, risk.when_any))
    ]


# --- understanding ----------------------------------------------------------------------------


async def prepare(models: llm.Runtime) -> None:
    """Load the catalogue and embed its examples ahead of the first description."""
    await _classify.prepare(models, await asyncio.to_thread(current, models.settings))


async def understand(
    models: llm.Runtime, description: str, *, types: list[TypeMatch] | None = None
) -> Breakdown:
    """What the description asks for, by the catalogue: types, sizes, requirements, team
    roles and tasks (the embedder is the only thing it calls; not when ``types`` are given)."""
    # Pure CPU (the catalogue's first load takes a second; a draft 5-10 ms): in threads, so
    # that the event loop goes on serving meanwhile.
    known = await asyncio.to_thread(current, models.settings)
    if types is None:
        types = await _classify.classify(models, description, known)
    return await asyncio.to_thread(draft, known, description, types=types)


def draft(known: Catalogue, description: str, *, types: list[TypeMatch]) -> Breakdown:
    """The breakdown of ``description`` as work of ``types`` (none: its own asks)."""
    return _breakdown.build(
        description,
        types=types,
        constraints=_text.constraints(description),
        catalogue=known,
    )


def match(known: Catalogue, key: str) -> TypeMatch:
    """A type chosen by hand (by its key), as classification would report it."""
    found = known.type(key)
    return TypeMatch(key=key, name=found.name, confidence=1.0, similarity=1.0, signals=[])


def title(description: str) -> str:
    return _text.title(description)


def particulars(description: str) -> Particulars:
    """Where, how long, with whom and how often, as the description words them."""
    return _particulars.particulars(description)


async def save_profile(
    session: AsyncSession, *, project_id: uuid.UUID, understood: Breakdown, source: str
) -> ProfileOut:
    """Keep what was understood of the project (replacing an earlier profile)."""
    row = await session.get(ProjectProfile, project_id)
    if row is None:
        row = ProjectProfile(project_id=project_id)
        session.add(row)
    row.title = understood.title
    row.types = [t.model_dump(mode="json") for t in understood.types]
    row.constraints = [c.model_dump(mode="json") for c in understood.constraints]
    row.requirements = [r.model_dump(mode="json") for r in understood.requirements]
    row.source = source[:200]
    row.notes = list(understood.notes)
    await session.flush()
    return ProfileOut.model_validate(row)


async def get_profile(
    session: AsyncSession, *, project_id: uuid.UUID, user: UserOut
) -> ProfileOut | None:
    """The project's profile, or None when it was never understood (``user`` must see it)."""
    await projects.get(session, project_id=project_id, user=user)
    row = (
        await session.execute(select(ProjectProfile).where(ProjectProfile.project_id == project_id))
    ).scalar_one_or_none()
    return None if row is None else ProfileOut.model_validate(row)


# --- the team ---------------------------------------------------------------------------------


def team_draft(understood: Breakdown) -> TeamDraft:
    """One agent per role the tasks need (the collaboration graph is drawn by the caller)."""
    agents = []
    for key, role in understood.roles.items():
        agents.append(
            AgentDraft(
                name=role.name,
                agent_type=role.agent_type,
                role=role.role,
                goal=role.goal,
                skills=list(role.skills),
                responsibilities=list(role.responsibilities),
                knowledge_domains=list(role.knowledge_domains),
                model_preference="quality"
                if role.agent_type != AgentType.ASSISTANT
                else "balanced",
                prompt_template=DEFAULT_AGENT_PROMPT,
                requirement_ids=understood.role_requirements.get(key, []),
                tools=list(role.tools),
            )
        )
    order = list(AgentType)
    agents.sort(key=lambda a: (a.agent_type != AgentType.COORDINATOR, order.index(a.agent_type)))
    return TeamDraft(agents=agents, collaboration=[])


_READ = ["workspace.read_file", "workspace.list_files", "workspace.search"]
DEFAULT_TOOLS: dict[AgentType, list[str]] = {
    AgentType.DEVELOPER: ["workspace.write_file", *_READ],
    AgentType.ASSISTANT: ["workspace.write_file", "workspace.read_file"],
    AgentType.DESIGNER: ["workspace.write_file", "workspace.read_file"],
    AgentType.COORDINATOR: ["workspace.write_file", "workspace.read_file", "math.evaluate"],
    AgentType.SPECIALIST: ["workspace.write_file", "workspace.read_file"],
    AgentType.RESEARCHER: [*_READ, "workspace.write_file", "http.fetch"],
    AgentType.AUDITOR: _READ,
    AgentType.CUSTOM: ["workspace.read_file"],
}


def tools_for(agent_type: AgentType, named: list[str]) -> list[str]:
    """The built-in tools an agent gets: those its role names, else its type's defaults."""
    return list(named) or DEFAULT_TOOLS[agent_type]


# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A team member a plan can assign work to; skills lower-case."""

    name: str
    agent_type: AgentType
    skills: tuple[str, ...]


def _assign(understood: Breakdown, members: list[Member]) -> dict[str, Member | None]:
    """Each role's team member: the same name, else the same type, else the best skills."""
    by_name = {m.name.lower(): m for m in members}
    load: dict[str, int] = {m.name: 0 for m in members}
    chosen: dict[str, Member | None] = {}
    for key, role in understood.roles.items():
        member = by_name.get(role.name.lower())
        if member is None:
            same = [m for m in members if m.agent_type == role.agent_type]
            wanted = {s.lower() for s in role.skills}
            pool = same or sorted(members, key=lambda m: -len(wanted & set(m.skills)))[:1]
            member = min(pool, key=lambda m: (load[m.name], m.name)) if pool else None
        if member is not None:
            load[member.name] += 1
        chosen[key] = member
    return chosen


def plan_draft(understood: Breakdown, members: list[Member], methodology: Methodology) -> PlanDraft:
    """The catalogue's plan for the team ``members`` in ``methodology``."""
    assigned = _assign(understood, members)
    phases: dict[str, list[TaskDraft]] = {}
    for task in understood.tasks:
        member = assigned.get(task.role)
        role = understood.roles[task.role]
        skills = [s.lower() for s in role.skills[:2]]
        if member is not None:  # the skills the member has, or the member's first
            skills = [s for s in skills if s in member.skills] or list(member.skills[:1])
        phases.setdefault(task.phase, []).append(_task_draft(task, member, skills))
    deps = [
        DependencyDraft(from_task=source, to_task=task.key, type=kind, lag_hours=lag)
        for task in understood.tasks
        for source, kind, lag in task.depends_on
    ]
    draft = PlanDraft(
        phases=[
            PhaseDraft(name=name, description="", tasks=tasks) for name, tasks in phases.items()
        ],
        dependencies=deps,
        milestones=[],
    )
    if methodology == Methodology.WATERFALL:
        return _gated(draft, assigned_lead(assigned, understood), "sign-off")
    if methodology == Methodology.AGILE:
        return _gated(draft, assigned_lead(assigned, understood), "review")
    releases = [t.key for t in understood.tasks if t.release]
    if releases:
        draft.milestones.append(MilestoneDraft(name="Done", phase=None, task_keys=releases))
    return draft


def assigned_lead(assigned: dict[str, Member | None], understood: Breakdown) -> str | None:
    for key, role in understood.roles.items():
        member = assigned.get(key)
        if member is not None and role.agent_type == AgentType.COORDINATOR:
            return member.name
    return next((m.name for m in assigned.values() if m is not None), None)


def _task_draft(task: PlannedTask, member: Member | None, skills: list[str]) -> TaskDraft:
    high = 2.0 if task.risk_level in (RiskLevel.HIGH, RiskLevel.CRITICAL) else 1.5
    description = task.description
    if task.risk_reason:
        description = f"{description}. Risk: {task.risk_reason}"
    return TaskDraft(
        key=task.key,
        name=task.name,
        description=description,
        acceptance_criteria=task.acceptance,
        estimate_hours=task.hours,
        optimistic_hours=round(task.hours * 0.75, 1),
        pessimistic_hours=round(task.hours * high, 1),
        required_skills=skills if member is not None else [],
        priority=task.priority,
        risk_level=task.risk_level,
        agent=member.name if member is not None else None,
        deliverable=task.deliverable,
    )


def _gated(draft: PlanDraft, lead: str | None, kind: str) -> PlanDraft:
    """Phases run one after another (WATERFALL: a sign-off; AGILE: a sprint review each)."""
    phases, deps, milestones = [], list(draft.dependencies), []
    gate: str | None = None
    for number, phase in enumerate(draft.phases, start=1):
        keys = [t.key for t in phase.tasks]
        name = phase.name if kind == "sign-off" else f"Sprint {number}: {phase.name}"
        check = TaskDraft(
            key=f"gate{number}",
            name=f"Sign off the {phase.name} phase"
            if kind == "sign-off"
            else f"Review sprint {number} ({phase.name}) and plan the next",
            description=f"Check the {phase.name} work against its acceptance criteria",
            acceptance_criteria=[f"Every {phase.name} task is accepted or has a next action"],
            estimate_hours=1.0,
            optimistic_hours=0.5,
            pessimistic_hours=2.0,
            required_skills=[],
            priority=Priority.MEDIUM,
            risk_level=RiskLevel.LOW,
            agent=lead,
            deliverable="status_report",
        )
        starts = [k for k in keys if not any(d.to_task == k and d.from_task in keys for d in deps)]
        if gate:
            deps += [
                DependencyDraft(from_task=gate, to_task=k, type=DependencyType.FS) for k in starts
            ]
        deps += [
            DependencyDraft(from_task=k, to_task=check.key, type=DependencyType.FS) for k in keys
        ]
        phases.append(phase.model_copy(update={"name": name, "tasks": [*phase.tasks, check]}))
        milestones.append(
            MilestoneDraft(name=f"{phase.name} done", phase=name, task_keys=[check.key])
        )
        gate = check.key
    return PlanDraft(phases=phases, dependencies=deps, milestones=milestones)


# --- checking a model's drafts ----------------------------------------------------------------

_COPY_WORDS = 8
MAJOR_SHARE = 0.4


def copies(name: str, description: str) -> bool:
    """Whether a task name copies the description (8 words in a row, or all of it)."""
    name_words = re.findall(r"\w+", name.lower())
    source = " ".join(re.findall(r"\w+", description.lower()))
    if len(name_words) >= 3 and " ".join(name_words) == source:
        return True
    return any(
        " ".join(name_words[i : i + _COPY_WORDS]) in source
        for i in range(0, max(0, len(name_words) - _COPY_WORDS) + 1)
        if len(name_words) >= _COPY_WORDS
    )


def plan_problems(draft: PlanDraft, description: str, team: list[str]) -> list[str]:
    """What makes a model's plan unusable: no tasks, unassigned or unestimated tasks, names
    copied from the description, agents not in the team."""
    tasks = [t for phase in draft.phases for t in phase.tasks]
    problems = [] if tasks else ["the plan has no tasks"]
    names = {n.lower() for n in team}
    for task in tasks:
        if not task.agent or task.agent.lower() not in names:
            problems.append(f"{task.key}: not assigned to a team member")
        if task.estimate_hours <= 0:
            problems.append(f"{task.key}: no estimate")
        if copies(task.name, description):
            problems.append(f"{task.key}: the name copies the description")
    return problems


def team_problems(team: TeamDraft, understood: Breakdown) -> list[str]:
    """What makes a model's team unusable: it lacks an agent type that carries a large share
    (MAJOR_SHARE) of the catalogue's hours for the work."""
    hours: dict[AgentType, float] = {}
    for task in understood.tasks:
        kind = understood.roles[task.role].agent_type
        hours[kind] = hours.get(kind, 0.0) + task.hours
    total = sum(hours.values()) or 1.0
    return [
        f"the team lacks a {kind.value}, who does {share:.0%} of the work"
        for kind, share in sorted(((k, h / total) for k, h in hours.items()), key=lambda i: -i[1])
        if share >= MAJOR_SHARE and not _covered(kind, team, understood)
    ]


def _covered(kind: AgentType, team: TeamDraft, understood: Breakdown) -> bool:
    """Someone in ``team`` is of this type, or has the skills of the catalogue's role of it
    (a model may call an ML engineer a SPECIALIST where the catalogue says DEVELOPER)."""
    if any(a.agent_type == kind for a in team.agents):
        return True
    needed = set().union(
        *(words(" ".join(r.skills)) for r in understood.roles.values() if r.agent_type == kind)
    )
    return any(len(needed & words(" ".join([a.role, *a.skills]))) >= 2 for a in team.agents)
