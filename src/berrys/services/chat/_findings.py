"""Answers about one project's plan and latest run: the critical path, why a task is risky,
what an agent wrote.

Each reads inside the caller's read-only transaction, through the owning services and with
the user's permissions; nothing here writes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from berrys.services.chat._outcome import Outcome, answered, project_url
from berrys.services.chat._reading import (
    Facts,
    agents_named,
    hours,
    task_named,
    task_status,
)
from berrys.services.chat._turn import Turn
from berrys.services.chat.contracts import IntentResult
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import HumanInteractionType, InteractionStatus
from berrys.services.planning import service as planning
from berrys.services.planning.contracts import Bottleneck, PlanDetail, ScheduledTask, TaskOut

# Monte Carlo samples for the finish forecast of a chat answer (the API's default is 1000).
FORECAST_ITERATIONS = 200
RISKY = ("HIGH", "CRITICAL")
# What the planning rules mark HIGH risk (the catalogue): the words a task's subject holds.
_RISK_SIGNALS = re.compile(
    r"\b(secur\w*|payments?|migrat\w*|integrat\w*|real-?time|scal\w*|legacy|ai|ml)\b", re.I
)
_GENERIC = frozenset({"run", "last run", "latest run", "team", "agents", "everyone", "you", "we"})


def _no_plan(question: str, facts: Facts) -> Outcome:
    hint = 'say "plan it" to draft one' if facts.agents else 'say "generate the team" first'
    return answered(
        question,
        f'"{facts.project.name}" has no plan yet, so there is no {question.replace("_", " ")} '
        f"to show: {hint}.",
        facts.project.id,
        plan_id=None,
    )


def _day(value: Any) -> str:
    return f"{value:%Y-%m-%d}"


# --- the critical path ----------------------------------------------------------------------


async def critical_path(session: Any, turn: Turn, facts: Facts) -> Outcome:
    plan = facts.plan
    if plan is None or not plan.tasks:
        return _no_plan("critical_path", facts)
    schedule = await planning.get_schedule(
        session, plan_id=plan.id, user=turn.user, iterations=FORECAST_ITERATIONS
    )
    names = {a.id: a.name for a in facts.agents}
    by_id = {t.task_id: t for t in schedule.tasks}
    chain = [by_id[task_id] for task_id in schedule.critical_path if task_id in by_id]
    path = [
        {
            "task_id": str(t.task_id),
            "name": t.name,
            "duration_hours": t.duration_hours,
            "agent": names.get(t.assigned_agent_id) if t.assigned_agent_id else None,
            "early_start": t.early_start.isoformat(),
            "early_finish": t.early_finish.isoformat(),
        }
        for t in chain
    ]
    steps = " -> ".join(
        f"{t.name} ({hours(t.duration_hours)}" + (f", {p['agent']})" if p["agent"] else ")")
        for t, p in zip(chain, path, strict=True)
    )
    slack = sorted(
        (t for t in schedule.tasks if not t.critical),
        key=lambda t: t.total_slack_hours,
        reverse=True,
    )
    reply = (
        f'The critical path of "{facts.project.name}" (plan version {plan.version}) runs '
        f"through {len(path)} of {len(schedule.tasks)} tasks, "
        f"{hours(sum(t.duration_hours for t in chain))} end to end: {steps}.\n"
        f"It finishes on {_day(schedule.finish.date)} (80 % likely by "
        f"{_day(schedule.finish.p80)}). A delay to any of these tasks delays the finish"
    )
    if slack:
        most = slack[0]
        reply += (
            f"; the other {len(slack)} have slack (the most: {most.name}, "
            f"{hours(most.total_slack_hours)})."
        )
    else:
        reply += "; every task is on it."
    return answered(
        "critical_path",
        reply,
        facts.project.id,
        plan_id=str(plan.id),
        version=plan.version,
        critical_path=path,
        finish=schedule.finish.date.isoformat(),
        finish_p80=schedule.finish.p80.isoformat(),
        name="Open the plan",
        url=project_url(facts.project.id, "plan"),
    )


# --- why a task is risky --------------------------------------------------------------------


async def _approvals(session: Any, run: Any) -> dict[uuid.UUID, Any]:
    """The run's task approvals by task run (the latest per task)."""
    found: dict[uuid.UUID, Any] = {}
    if run is None:
        return found
    rows, _ = await interactions.get_all(
        session, limit=200, offset=0, run_id=run.id, type=HumanInteractionType.APPROVAL
    )
    for row in reversed(rows):  # oldest first, so the latest stays
        if row.task_run_id is not None:
            found[row.task_run_id] = row
    return found


def _approval_text(row: Any, turn: Turn) -> tuple[str, dict[str, Any]]:
    detail = row.detail or {}
    data = {
        "interaction_id": str(row.id),
        "title": row.title,
        "status": row.status.value,
        "approved": detail.get("approved"),
        "comment": detail.get("comment"),
    }
    if row.status == InteractionStatus.PENDING:
        return f'its approval "{row.title}" is waiting for an answer', data
    if row.status != InteractionStatus.RESPONDED:
        return f'its approval "{row.title}" is {row.status.value.lower()}', data
    who = "you" if row.responded_by == turn.user.id else "another user"
    verdict = "approved" if detail.get("approved") else "rejected"
    when = f" on {row.responded_at:%Y-%m-%d %H:%M} UTC" if row.responded_at else ""
    said = f' ("{detail["comment"]}")' if detail.get("comment") else ""
    return f"{who} {verdict} it to run{when}{said}", data


async def risk(session: Any, turn: Turn, facts: Facts, intent: IntentResult) -> Outcome:
    plan = facts.plan
    if plan is None or not plan.tasks:
        return _no_plan("risk", facts)
    named = task_named(intent.subject or turn.content, plan.tasks)
    if named is None and intent.subject:
        named = task_named(turn.content, plan.tasks)
    risky = [t for t in plan.tasks if t.risk_level.value in RISKY]
    chosen = [named] if named is not None else risky[:5]
    if not chosen:
        medium = [t.name for t in plan.tasks if t.risk_level.value == "MEDIUM"]
        reply = (
            f'No task of "{facts.project.name}" (plan version {plan.version}) is HIGH or '
            "CRITICAL risk"
            + (f"; {len(medium)} are MEDIUM: {'; '.join(medium[:5])}." if medium else ".")
        )
        return answered("risk", reply, facts.project.id, plan_id=str(plan.id), tasks=[])
    evidence = await _risk_evidence(session, turn, facts, plan)
    explained = [_explain_risk(task, evidence) for task in chosen]
    lines = [
        f"- {item['name']} is {item['risk_level']} risk: " + "; ".join(item["reasons"]) + "."
        for item in explained
    ]
    head = (
        ""
        if named is not None
        else f'{len(risky)} task(s) of "{facts.project.name}" are HIGH or CRITICAL risk'
        + (" (the first 5)" if len(risky) > 5 else "")
        + ":\n"
    )
    return answered(
        "risk",
        head + "\n".join(lines),
        facts.project.id,
        plan_id=str(plan.id),
        tasks=explained,
        name="Open the plan",
        url=project_url(facts.project.id, "plan"),
    )


@dataclass(frozen=True)
class _RiskEvidence:
    """What besides a task itself explains its risk: the plan's schedule and bottlenecks,
    and the latest run's task runs and approvals."""

    turn: Turn
    drafted_by: str
    scheduled: dict[uuid.UUID, ScheduledTask]
    bottlenecks: list[Bottleneck]
    task_runs: dict[uuid.UUID, Any]
    approvals: dict[uuid.UUID, Any]


async def _risk_evidence(session: Any, turn: Turn, facts: Facts, plan: PlanDetail) -> _RiskEvidence:
    schedule = await planning.get_schedule(
        session, plan_id=plan.id, user=turn.user, iterations=FORECAST_ITERATIONS
    )
    found = await planning.get_bottlenecks(session, plan_id=plan.id, user=turn.user)
    run = facts.run
    return _RiskEvidence(
        turn=turn,
        drafted_by=plan.generated_by or "a person",
        scheduled={t.task_id: t for t in schedule.tasks},
        bottlenecks=found.bottlenecks,
        task_runs=(
            {t.plan_task_id: t for t in run.task_runs if t.plan_task_id is not None}
            if run is not None
            else {}
        ),
        approvals=await _approvals(session, run),
    )


def _explain_risk(task: TaskOut, evidence: _RiskEvidence) -> dict[str, Any]:
    """Why a task is risky: the plan's reading of it, its place in the schedule, and who
    approved (or must approve) it."""
    reasons = [
        f"the plan's drafter ({evidence.drafted_by}) set its risk to {task.risk_level.value}"
    ]
    reasons += _subject_reasons(task)
    reasons += _schedule_reasons(task, evidence)
    approval = None
    task_run = evidence.task_runs.get(task.id)
    if task_run is not None and task_run.id in evidence.approvals:
        said, approval = _approval_text(evidence.approvals[task_run.id], evidence.turn)
        reasons.append(said)
    elif task.risk_level.value in RISKY:
        reasons.append("a run asks a person to approve it before it starts")
    return {
        "task_id": str(task.id),
        "name": task.name,
        "risk_level": task.risk_level.value,
        "reasons": reasons,
        "approval": approval,
        "task_run_status": task_status(task_run) if task_run is not None else None,
    }


def _subject_reasons(task: TaskOut) -> list[str]:
    """What the task is about (the risk signals it touches) and how uncertain its estimate is."""
    reasons = []
    signals = sorted(
        {
            m.lower().removesuffix("s")
            for m in _RISK_SIGNALS.findall(f"{task.name} {task.description}")
        }
    )
    if signals:
        reasons.append(f"its subject touches {', '.join(signals)}")
    if task.pessimistic_hours and task.pessimistic_hours > task.estimate_hours:
        reasons.append(
            f"its estimate is uncertain: {hours(task.optimistic_hours or task.estimate_hours)}"
            f" to {hours(task.pessimistic_hours)}, most likely {hours(task.estimate_hours)}"
        )
    return reasons


def _schedule_reasons(task: TaskOut, evidence: _RiskEvidence) -> list[str]:
    """The task's slack (or place on the critical path) and the bottlenecks it is part of."""
    reasons = []
    scheduled = evidence.scheduled.get(task.id)
    if scheduled is not None and scheduled.critical:
        reasons.append("it is on the critical path: any delay delays the finish")
    elif scheduled is not None:
        reasons.append(f"it has {hours(scheduled.total_slack_hours)} of slack")
    for found in evidence.bottlenecks:
        if task.id in found.task_ids and found.kind.value != "LONG_CHAIN":
            reasons.append(f"{found.detail} ({found.severity.value.lower()})")
    return reasons


# --- what an agent wrote --------------------------------------------------------------------


def _excerpt(content: str, limit: int = 220) -> str:
    lines = [line.strip() for line in content.splitlines() if line.strip()]
    text = " / ".join(lines[:3])
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


async def artifacts(session: Any, turn: Turn, facts: Facts, intent: IntentResult) -> Outcome:
    project, run = facts.project, facts.run
    if run is None:
        return answered(
            "artifacts",
            f'"{project.name}" has not run yet, so nothing has been written. '
            + ('Say "start it" to run its plan.' if facts.plan else 'Say "plan it" first.'),
            project.id,
            run_id=None,
            artifacts=[],
        )
    meant = agents_named(intent.subject or turn.content, facts.agents) or agents_named(
        turn.content, facts.agents
    )
    subject = (intent.subject or "").strip()
    if not meant and subject and subject.lower() not in _GENERIC and "run" not in subject.lower():
        team = ", ".join(f"{a.name} ({a.agent_type.value})" for a in facts.agents) or "none"
        return answered(
            "artifacts",
            f'No agent of "{project.name}" is called "{subject}". Its team: {team}.',
            project.id,
            run_id=str(run.id),
            artifacts=[],
        )
    tasks = {t.id: t for t in run.task_runs}
    names = {a.id: a.name for a in facts.agents}
    wanted = {a.id for a in meant}
    listed = [
        _artifact_item(artifact, tasks.get(artifact.task_run_id), names)
        for artifact in run.artifacts
        if not wanted or _author(tasks.get(artifact.task_run_id)) in wanted
    ]
    who = " and ".join(a.name for a in meant) if meant else "the team"
    where = f'the latest run {str(run.id)[:8]} ({run.status.value}) of "{project.name}"'
    if not listed:
        reply = f"In {where}, {who} wrote nothing yet."
    else:
        reply = f"In {where}, {who} wrote {len(listed)} deliverable(s):\n" + _artifact_lines(
            listed, by_one_agent=len(meant) == 1
        )
    return answered(
        "artifacts",
        reply,
        project.id,
        run_id=str(run.id),
        agents=[{"id": str(a.id), "name": a.name} for a in meant],
        artifacts=listed,
        name="Open the run",
        url=f"/runs/{run.id}",
    )


def _author(task: Any | None) -> uuid.UUID | None:
    """The agent of the task run that wrote an artifact (None when it is unknown)."""
    return task.agent_id if task is not None else None


def _artifact_item(artifact: Any, task: Any | None, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    agent_id = _author(task)
    return {
        "id": str(artifact.id),
        "name": artifact.name,
        "media_type": artifact.media_type,
        "path": artifact.path,
        "task": task.name if task is not None else None,
        "task_status": task_status(task) if task is not None else None,
        "agent": names.get(agent_id) if agent_id else None,
        "chars": len(artifact.content),
        "excerpt": _excerpt(artifact.content),
    }


def _artifact_lines(listed: list[dict[str, Any]], *, by_one_agent: bool) -> str:
    """One line per artifact (the first ten), naming its author unless one agent was asked."""
    lines = []
    for item in listed[:10]:
        by = f" by {item['agent']}" if item["agent"] and not by_one_agent else ""
        review = " [needs review]" if item["task_status"] == "NEEDS_REVIEW" else ""
        task = f' for "{item["task"]}"' if item["task"] and item["task"] != item["name"] else ""
        lines.append(
            f"- {item['name']}{by}{task}{review}, {item['chars']} characters: {item['excerpt']}"
        )
    more = f"\n... and {len(listed) - 10} more on the run's page." if len(listed) > 10 else ""
    return "\n".join(lines) + more
