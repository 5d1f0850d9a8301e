"""Answers about the user's side of things, in one project or across all theirs: what is
waiting for them (pending interactions, NEEDS_REVIEW deliverables, as the approvals inbox and
``GET /api/v1/reviews`` list them) and what it has cost.

Each reads inside the caller's read-only transaction, through the owning services and with
the user's permissions (the usage the llm service lets them see); nothing here writes.
"""

from __future__ import annotations

import uuid
from typing import Any

from berrys.services.agents import service as agents
from berrys.services.chat._outcome import Outcome, answered
from berrys.services.chat._reading import latest_run
from berrys.services.chat._turn import Turn
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionOut, InteractionStatus
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import UsageReport
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import ReviewItem

# --- what is waiting for the user ------------------------------------------------------------


async def waiting(session: Any, turn: Turn, project_id: uuid.UUID | None) -> Outcome:
    """Pending interactions and tasks needing review, in one project or all the user's."""
    visible = await projects.visible_scope(session, user=turn.user)
    if project_id is not None:
        await projects.get(session, project_id=project_id, user=turn.user)
    pending, total = await interactions.get_all(
        session,
        limit=20,
        offset=0,
        project_ids=visible,
        status=InteractionStatus.PENDING,
        project_id=project_id,
    )
    names = {pid: name for name, pid in turn.projects.items()}
    reviews = [
        _review_item(item, names)
        for item in await runs.waiting_review(session, user=turn.user, project_id=project_id)
    ]
    where = f' in "{names[project_id]}"' if project_id in names else ""
    items = [_interaction_item(p, names) for p in pending]
    if not items and not reviews:
        return answered(
            "waiting",
            f"Nothing is waiting for you{where}: no pending approvals or questions, and no "
            "deliverable needs review.",
            project_id,
            interactions=[],
            total_interactions=0,
            reviews=[],
        )
    return answered(
        "waiting",
        _waiting_reply(items, total, reviews, where=where),
        project_id,
        interactions=items,
        total_interactions=total,
        reviews=reviews,
        name="Approvals inbox",
        url="/approvals" if total else (reviews[0]["url"] if reviews else "/approvals"),
    )


def _review_item(item: ReviewItem, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "project": names.get(item.project_id),
        "project_id": str(item.project_id),
        "run_id": str(item.run_id),
        "task_run_id": str(item.task_run_id),
        "task": item.name,
        "reasons": item.reasons,
        "offline": item.offline,
        "url": f"/runs/{item.run_id}/review",
    }


def _interaction_item(pending: InteractionOut, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "interaction_id": str(pending.id),
        "type": pending.type.value,
        "title": pending.title,
        "project": names.get(pending.project_id),
        "project_id": str(pending.project_id),
        "run_id": str(pending.run_id) if pending.run_id else None,
        "priority": pending.priority.value,
    }


def _waiting_reply(
    items: list[dict[str, Any]], total: int, reviews: list[dict[str, Any]], *, where: str
) -> str:
    """What is waiting, one line each (the first ten of a kind), and how to answer it."""
    lines = []
    for item in items[:10]:
        kind = item["type"].lower()
        project = f" ({item['project']})" if item["project"] and not where else ""
        lines.append(f'- {kind}: "{item["title"]}"{project}')
    if total > 10:
        lines.append(f"- ... and {total - 10} more in the approvals inbox")
    for item in reviews[:10]:
        project = f" ({item['project']})" if item["project"] and not where else ""
        why = f": {'; '.join(item['reasons'][:2])}" if item["reasons"] else ""
        lines.append(f'- review the deliverable of "{item["task"]}"{project}{why}')
    parts = []
    how = []
    if total:
        parts.append(f"{total} pending interaction(s)")
        how.append('answer an approval with "approve" or "reject", or in the inbox (/approvals)')
    if reviews:
        parts.append(f"{len(reviews)} deliverable(s) to review")
        how.append("accept, edit or send back a deliverable on its run's page")
    return (
        f"Waiting for you{where}: {' and '.join(parts)}.\n"
        + "\n".join(lines)
        + "\n"
        + "; ".join(how).capitalize()
        + "."
    )


# --- what it has cost -----------------------------------------------------------------------


async def cost(session: Any, turn: Turn, project_id: uuid.UUID | None) -> Outcome:
    """Model usage and spend, of one project or of all the user's, from the llm service."""
    visible_to = await projects.log_scope(session, user=turn.user)
    names = {pid: name for name, pid in turn.projects.items()}
    if project_id is not None:
        project = await projects.get(session, project_id=project_id, user=turn.user)
        names[project.id] = project.name
    report = await llm.usage(session, visible_to=visible_to, project_id=project_id, limit=0)
    total = report.total
    tokens = total.prompt_tokens + total.completion_tokens
    head = (
        f'"{names.get(project_id, "the project")}" has cost ${total.cost_usd:.4f}'
        if project_id is not None
        else f"Your projects have cost ${total.cost_usd:.4f}"
    )
    reply = (
        f"{head} in model calls: {total.requests} call(s), {tokens} tokens "
        f"({total.failures} failed)."
    )
    result: dict[str, Any] = {
        "cost_usd": total.cost_usd,
        "requests": total.requests,
        "tokens": tokens,
        "by_model": [
            {"model": g.key, "cost_usd": g.cost_usd, "requests": g.requests}
            for g in report.by_model
        ],
    }
    if report.by_model:
        reply += (
            " By model: "
            + ", ".join(f"{g.key} ${g.cost_usd:.4f} ({g.requests})" for g in report.by_model[:5])
            + "."
        )
    if project_id is not None:
        reply += await _project_costs(session, turn, project_id, report, result)
    else:
        reply += _costs_by_project(report, names, result)
    if total.cost_usd == 0 and total.requests:
        reply += " Offline models (rules and local) cost nothing."
    return answered("cost", reply, project_id, **result, name="Model usage", url="/models")


async def _project_costs(
    session: Any, turn: Turn, project_id: uuid.UUID, report: UsageReport, result: dict[str, Any]
) -> str:
    """A project's spend by agent, of its latest run, against its budgets: the sentences,
    with the figures added to ``result``."""
    team, _ = await agents.get_all(session, project_id=project_id, user=turn.user, limit=200)
    agent_names = {str(a.id): a.name for a in team}
    by_agent = [
        {
            "agent": agent_names.get(g.key, "a removed agent"),
            "cost_usd": g.cost_usd,
            "requests": g.requests,
        }
        for g in report.by_agent
    ]
    result["by_agent"] = by_agent
    reply = ""
    if by_agent:
        reply += (
            " By agent: "
            + ", ".join(f"{a['agent']} ${a['cost_usd']:.4f}" for a in by_agent[:6])
            + "."
        )
    run = await latest_run(session, project_id)
    if run is not None:
        budget = f" of a ${run.budget_usd:.2f} budget" if run.budget_usd else ""
        reply += f" Its latest run ({run.status.value}) cost ${run.cost_usd:.4f}{budget}."
        result["run"] = {
            "run_id": str(run.id),
            "cost_usd": run.cost_usd,
            "budget_usd": run.budget_usd,
            "tokens": run.tokens,
        }
    budgets = await llm.get_budgets(session, project_ids=[project_id])
    if budgets:
        reply += (
            " Budgets: "
            + ", ".join(
                f"{b.period.value.lower()} ${b.spent_usd:.4f} of "
                + (f"${b.limit_usd:.2f}" if b.limit_usd is not None else "no limit")
                for b in budgets
            )
            + "."
        )
    result["budgets"] = [b.model_dump(mode="json") for b in budgets]
    return reply


def _costs_by_project(
    report: UsageReport, names: dict[uuid.UUID, str], result: dict[str, Any]
) -> str:
    """Spend by each of the user's projects: the sentence, with the figures in ``result``."""
    by_project = [
        {
            "project": names[uuid.UUID(g.key)],
            "project_id": g.key,
            "cost_usd": g.cost_usd,
            "requests": g.requests,
        }
        for g in report.by_project
        if _uuid(g.key) in names
    ]
    result["by_project"] = by_project
    if not by_project:
        return ""
    return (
        " By project: "
        + ", ".join(f"{p['project']} ${p['cost_usd']:.4f}" for p in by_project[:8])
        + "."
    )


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
