"""Whether a rule's condition holds now, read from the services that own the facts: what
held (a summary and the subjects) or ``None`` when it does not."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.services.alerts.contracts import (
    AlertCondition,
    ApprovalWaiting,
    BudgetSpent,
    RunStalled,
    TaskFailureRate,
    WorkerSilent,
)
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import HumanInteractionType, InteractionStatus
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import BudgetOut
from berrys.services.runs import service as runs

CONDITION: TypeAdapter[AlertCondition] = TypeAdapter(AlertCondition)
# Subjects named in an episode's details; the summary gives the total.
MAX_SUBJECTS = 20


@dataclass(slots=True)
class Finding:
    """What made a condition hold: one line for people, and the subjects for machines."""

    summary: str
    details: dict[str, Any] = field(default_factory=dict)


Check = Callable[[AsyncSession, Any, "uuid.UUID | None", datetime], Awaitable[Finding | None]]


async def _task_failure_rate(
    session: AsyncSession, condition: TaskFailureRate, project_id: uuid.UUID | None, now: datetime
) -> Finding | None:
    since = now - timedelta(minutes=condition.window_minutes)
    outcomes = await runs.task_outcomes(session, since=since, project_id=project_id)
    if outcomes.finished < condition.min_tasks:
        return None
    rate = 100.0 * outcomes.failed / outcomes.finished
    if rate < condition.threshold_percent:
        return None
    return Finding(
        f"{outcomes.failed} of {outcomes.finished} tasks failed in the last "
        f"{condition.window_minutes} min ({rate:.0f} % >= {condition.threshold_percent:g} %)",
        {"finished": outcomes.finished, "failed": outcomes.failed, "rate_percent": rate},
    )


def _spent_percent(budget: BudgetOut) -> float:
    """The larger share of its limits a budget has spent (a limit of 0 counts as none)."""
    shares = [0.0]
    if budget.limit_usd:
        shares.append(100.0 * budget.spent_usd / budget.limit_usd)
    if budget.limit_tokens:
        shares.append(100.0 * budget.spent_tokens / budget.limit_tokens)
    return max(shares)


async def _budget_spent(
    session: AsyncSession, condition: BudgetSpent, project_id: uuid.UUID | None, now: datetime
) -> Finding | None:
    scope = None if project_id is None else [project_id]
    budgets = await llm.get_budgets(session, project_ids=scope)
    over = [
        (budget, spent)
        for budget in budgets
        if (spent := _spent_percent(budget)) >= condition.threshold_percent
    ]
    if not over:
        return None
    top = max(spent for _, spent in over)
    return Finding(
        f"{len(over)} budget(s) spent >= {condition.threshold_percent:g} % of their limit "
        f"(highest {top:.0f} %)",
        {
            "budgets": [
                {**budget.model_dump(mode="json"), "spent_percent": round(spent, 2)}
                for budget, spent in over[:MAX_SUBJECTS]
            ]
        },
    )


async def _run_stalled(
    session: AsyncSession, condition: RunStalled, project_id: uuid.UUID | None, now: datetime
) -> Finding | None:
    idle_since = now - timedelta(minutes=condition.idle_minutes)
    stalled = await runs.stalled_runs(session, idle_since=idle_since, project_id=project_id)
    if not stalled:
        return None
    return Finding(
        f"{len(stalled)} run(s) without progress for {condition.idle_minutes} min or more",
        {"runs": [run.model_dump(mode="json") for run in stalled[:MAX_SUBJECTS]]},
    )


async def _approval_waiting(
    session: AsyncSession, condition: ApprovalWaiting, project_id: uuid.UUID | None, now: datetime
) -> Finding | None:
    waiting, total = await interactions.get_all(
        session,
        limit=MAX_SUBJECTS,
        offset=0,
        status=InteractionStatus.PENDING,
        type=HumanInteractionType.APPROVAL,
        project_id=project_id,
        created_before=now - timedelta(minutes=condition.waiting_minutes),
    )
    if not total:
        return None
    return Finding(
        f"{total} approval(s) waiting longer than {condition.waiting_minutes} min",
        {
            "approvals": [
                {
                    "interaction_id": str(item.id),
                    "project_id": str(item.project_id),
                    "title": item.title,
                    "created_at": item.created_at.isoformat(),
                }
                for item in waiting
            ]
        },
    )


async def _worker_silent(
    session: AsyncSession, condition: WorkerSilent, project_id: uuid.UUID | None, now: datetime
) -> Finding | None:
    beat_before = now - timedelta(minutes=condition.grace_minutes)
    silent = await runs.silent_workers(session, beat_before=beat_before, project_id=project_id)
    if not silent:
        return None
    held = sum(worker.tasks_held for worker in silent)
    return Finding(
        f"{len(silent)} worker(s) sent no heartbeat for {condition.grace_minutes} min or "
        f"more, holding {held} running task(s)",
        {
            "workers": [worker.id for worker in silent[:MAX_SUBJECTS]],
            "last_heartbeats": [
                worker.heartbeat_at.isoformat() for worker in silent[:MAX_SUBJECTS]
            ],
            "tasks_held": held,
        },
    )


_CHECKS: dict[type[Any], Check] = {
    TaskFailureRate: _task_failure_rate,
    BudgetSpent: _budget_spent,
    RunStalled: _run_stalled,
    ApprovalWaiting: _approval_waiting,
    WorkerSilent: _worker_silent,
}


async def check(
    session: AsyncSession, condition: AlertCondition, project_id: uuid.UUID | None, now: datetime
) -> Finding | None:
    """Whether ``condition`` holds at ``now`` for the project (None: every project)."""
    return await _CHECKS[type(condition)](session, condition, project_id, now)
