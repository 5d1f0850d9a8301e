"""Berry's answers to questions, read from the project's data through the owning services.

A question (intent STATUS with a ``question``) only reads: each answer opens one read-only
transaction and reads through the same service functions the REST API calls, with the
user's permissions (someone else's project is NotFound, as over REST). Nothing here writes.
The critical path, risk and deliverables are answered in :mod:`findings`, what is waiting
and what it has cost in :mod:`accounts`, and a message Berry did not understand in
:mod:`guide`.
"""

from __future__ import annotations

import uuid
from typing import Any

from berrys.core.db import Database
from berrys.core.errors import BerrysError, NotFound
from berrys.services.catalogue import service as catalogue
from berrys.services.chat import _accounts, _findings
from berrys.services.chat._outcome import (
    Intent,
    Outcome,
    Status,
    answered,
    failed,
    project_url,
    target_project,
)
from berrys.services.chat._reading import Facts, hours, read_facts, task_status
from berrys.services.chat._turn import Turn
from berrys.services.chat.contracts import ChatAction, IntentResult
from berrys.services.planning.contracts import PlanDetail, TaskOut
from berrys.services.projects import service as projects

# Questions that make sense across all of the user's projects when none is meant.
ACROSS_PROJECTS = frozenset({"waiting", "cost", "overview"})


def _which_project(turn: Turn) -> Outcome:
    names = sorted(turn.projects)
    if not names:
        return Outcome(
            reply="You have no projects yet, so there is nothing to answer from. Tell me what "
            'you want to build, for example: "Create a project called Bakery Site to build a '
            'website for my bakery".'
        )
    listed = ", ".join(f'"{n}"' for n in names[:8]) + (" ..." if len(names) > 8 else "")
    return Outcome(
        reply=f"Which project do you mean? Name it in your question ({listed}), for example: "
        f'"what is the plan of {names[0]}?"'
    )


async def answer(database: Database, turn: Turn, intent: IntentResult) -> Outcome:
    """Answer the question ``intent`` asks, from the data; never changes anything."""
    question = intent.question or "overview"
    project_id, _name = target_project(turn, intent)
    if project_id is None and question not in ACROSS_PROJECTS:
        if len(turn.projects) != 1:
            return _which_project(turn)
        [(_, project_id)] = turn.projects.items()
    try:
        async with database.transaction(read_only=True) as session:
            if question == "waiting":
                named = project_id if intent.project_name else None
                return await _accounts.waiting(session, turn, named)
            if question == "cost":
                return await _accounts.cost(session, turn, project_id)
            if project_id is None:
                return await _all_projects(session, turn)
            facts = await read_facts(session, turn.user, project_id)
            match question:
                case "critical_path":
                    return await _findings.critical_path(session, turn, facts)
                case "risk":
                    return await _findings.risk(session, turn, facts, intent)
                case "artifacts":
                    return await _findings.artifacts(session, turn, facts, intent)
                case "team":
                    return _team(facts)
                case "plan":
                    return await _plan(session, turn, facts)
                case "requirements":
                    return await _requirements(session, turn, facts)
                case _:
                    return await _overview(session, turn, facts)
    except BerrysError as exc:
        return failed(Intent.STATUS, exc, project_id)


# --- overview -------------------------------------------------------------------------------


async def _all_projects(session: Any, turn: Turn) -> Outcome:
    mine, total = await projects.get_all(session, user=turn.user, limit=200, offset=0)
    if not total:
        return Outcome(
            reply="You have no projects yet. Tell me what you want to build, for example: "
            '"Create a project called Bakery Site to build a website for my bakery".',
            actions=[ChatAction(type=Intent.STATUS, status=Status.COMPLETED)],
        )
    by_status: dict[str, int] = {}
    for project in mine:
        by_status[project.status.value] = by_status.get(project.status.value, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
    return Outcome(
        reply=f"You have {total} project(s): {summary}. Name one to hear more.",
        actions=[
            ChatAction(
                type=Intent.STATUS,
                status=Status.COMPLETED,
                result={"question": "overview", "projects": total, "by_status": by_status},
            )
        ],
    )


def _run_summary(run: Any) -> dict[str, Any]:
    done = sum(1 for t in run.task_runs if task_status(t) in ("COMPLETED", "NEEDS_REVIEW"))
    return {
        "run_id": str(run.id),
        "status": run.status.value,
        "tasks": len(run.task_runs),
        "completed": sum(1 for t in run.task_runs if task_status(t) == "COMPLETED"),
        "done": done,
        "needs_review": sum(1 for t in run.task_runs if task_status(t) == "NEEDS_REVIEW"),
        "cost_usd": run.cost_usd,
        "url": f"/runs/{run.id}",
    }


async def _overview(session: Any, turn: Turn, facts: Facts) -> Outcome:
    project = facts.project
    stats = await projects.get_stats(session, project_id=project.id, user=turn.user)
    next_states = ", ".join(s.value for s in stats.allowed_transitions) or "none"
    plan = facts.plan
    planned = (
        f" Its plan is version {plan.version} with {len(plan.tasks)} tasks."
        if plan is not None
        else ""
    )
    run = _run_summary(facts.run) if facts.run is not None else None
    if run is None:
        progress = (
            ' No run yet: say "start it" to run its plan.'
            if plan is not None
            else ' No plan yet: say "plan it" to draft one.'
        )
    else:
        progress = (
            f" Its latest run is {run['status']}: {run['completed']} of {run['tasks']} tasks "
            f"done, ${run['cost_usd']:.4f} spent."
        )
        if run["needs_review"]:
            progress += (
                f" {run['needs_review']} deliverable(s) need a person's review: ask me "
                '"what is waiting for me?".'
            )
    return answered(
        "overview",
        f'"{project.name}" is {stats.status.value} since '
        f"{stats.status_since:%Y-%m-%d %H:%M} UTC. It has {len(facts.agents)} agent(s)."
        f"{planned} It can move to: {next_states}.{progress}",
        project.id,
        name=project.name,
        status=stats.status.value,
        agents=len(facts.agents),
        plan_version=plan.version if plan is not None else None,
        allowed_transitions=[s.value for s in stats.allowed_transitions],
        run=run,
        url=project_url(project.id),
    )


# --- team, plan, requirements -----------------------------------------------------------


def _team(facts: Facts) -> Outcome:
    project = facts.project
    if not facts.agents:
        return answered(
            "team",
            f'"{project.name}" has no team yet. Say "generate the team" and I will propose one '
            "from its description.",
            project.id,
            agents=[],
            url=project_url(project.id, "team"),
        )
    load: dict[uuid.UUID, int] = {}
    for task in facts.plan.tasks if facts.plan is not None else []:
        if task.assigned_agent_id is not None:
            load[task.assigned_agent_id] = load.get(task.assigned_agent_id, 0) + 1
    team = [
        {
            "id": str(a.id),
            "name": a.name,
            "agent_type": a.agent_type.value,
            "role": a.role,
            "state": a.state.value,
            "tasks": load.get(a.id, 0),
        }
        for a in facts.agents
    ]
    lines = [
        f"- {a['name']} ({a['agent_type']}, {a['state']}): {a['role']}"
        + (f"; {a['tasks']} task(s) in the plan" if facts.plan is not None else "")
        for a in team
    ]
    return answered(
        "team",
        f'"{project.name}" has {len(team)} agent(s):\n' + "\n".join(lines),
        project.id,
        agents=team,
        name="Open the team",
        url=project_url(project.id, "team"),
    )


async def _plan(session: Any, turn: Turn, facts: Facts) -> Outcome:
    project, plan = facts.project, facts.plan
    if plan is None:
        hint = (
            'Say "plan it" and I will draft one.'
            if facts.agents
            else 'Say "generate the team" first, then "plan it".'
        )
        return answered(
            "plan",
            f'"{project.name}" has no plan yet. {hint}',
            project.id,
            plan_id=None,
            url=project_url(project.id, "plan"),
        )
    phases = _tasks_by_phase(plan)
    lines = _phase_lines(phases, {a.id: a.name for a in facts.agents})
    total = sum(t.estimate_hours for t in plan.tasks)
    risky = [t.name for t in plan.tasks if t.risk_level.value in ("HIGH", "CRITICAL")]
    milestones = [m.name for m in plan.milestones]
    reply = (
        f'Plan version {plan.version} of "{project.name}" ({plan.methodology.value}, drafted by '
        f"{plan.generated_by or 'hand'}): {len(plan.tasks)} tasks in {len(plan.phases)} "
        f"phase(s), {hours(total)} of work.\n" + "\n".join(lines)
    )
    if milestones:
        reply += "\nMilestones: " + "; ".join(milestones) + "."
    if risky:
        reply += f'\n{len(risky)} task(s) are high-risk: ask "why is {risky[0]} high-risk?".'
    reply += '\nAsk "which tasks are on the critical path?" for what sets the finish date.'
    return answered(
        "plan",
        reply,
        project.id,
        plan_id=str(plan.id),
        version=plan.version,
        methodology=plan.methodology.value,
        tasks=len(plan.tasks),
        phases=[{"name": n, "tasks": [t.name for t in ts]} for n, ts in phases],
        milestones=milestones,
        estimate_hours=round(total, 2),
        high_risk=risky,
        name="Open the plan",
        url=project_url(project.id, "plan"),
    )


def _tasks_by_phase(plan: PlanDetail) -> list[tuple[str, list[TaskOut]]]:
    """Each phase's tasks in the plan's order, then those without a phase."""
    by_phase: dict[uuid.UUID | None, list[TaskOut]] = {}
    for task in plan.tasks:
        by_phase.setdefault(task.phase_id, []).append(task)
    phases = [(p.name, by_phase.get(p.id, [])) for p in plan.phases]
    if by_phase.get(None):
        phases.append(("Without a phase", by_phase[None]))
    return phases


def _phase_lines(phases: list[tuple[str, list[TaskOut]]], names: dict[uuid.UUID, str]) -> list[str]:
    """A line per phase naming its tasks and who does them, the first 20 tasks in all."""
    lines = []
    shown = 0
    for phase_name, tasks in phases:
        listed = []
        for task in tasks:
            if shown >= 20:
                break
            who = names.get(task.assigned_agent_id) if task.assigned_agent_id else None
            listed.append(task.name + (f" ({who})" if who else ""))
            shown += 1
        more = len(tasks) - len(listed)
        lines.append(
            f"- {phase_name}: " + "; ".join(listed) + (f"; and {more} more" if more > 0 else "")
        )
    return lines


async def _requirements(session: Any, turn: Turn, facts: Facts) -> Outcome:
    project = facts.project
    listed: list[dict[str, Any]] = []
    source = "team"
    try:
        profile = await catalogue.get_profile(session, project_id=project.id, user=turn.user)
    except NotFound:
        profile = None
    if profile is not None and profile.requirements:
        source = "profile"
        listed = [
            {
                "text": r.text,
                "category": r.category.value,
                "priority": r.priority.value,
                "source": r.source,
            }
            for r in profile.requirements
        ]
    else:
        seen: dict[str, list[str]] = {}
        for agent in facts.agents:
            for text in agent.requirements:
                seen.setdefault(text, []).append(agent.name)
        listed = [{"text": text, "agents": who} for text, who in seen.items()]
    if not listed:
        described = f' Its description: "{project.description}".' if project.description else ""
        return answered(
            "requirements",
            f'I have no requirements for "{project.name}" yet: they are drawn from its '
            f'description when its team is generated ("generate the team").{described}',
            project.id,
            requirements=[],
            source=None,
        )
    lines = []
    for number, item in enumerate(listed[:25], start=1):
        extra = (
            f" ({item['priority'].lower()}, {item['source']})"
            if source == "profile"
            else f" (covered by {', '.join(item['agents'])})"
        )
        lines.append(f"{number}. {item['text']}{extra}")
    more = f"\n... and {len(listed) - 25} more." if len(listed) > 25 else ""
    return answered(
        "requirements",
        f'"{project.name}" has {len(listed)} requirement(s):\n' + "\n".join(lines) + more,
        project.id,
        requirements=listed,
        source=source,
        url=project_url(project.id),
    )
