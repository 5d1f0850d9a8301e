"""The estimate a plan approval shows: model cost from token estimates and model prices, and
duration from the schedule's critical path."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.errors import ServiceUnavailable
from berrys.services.auth.contracts import UserOut
from berrys.services.llm import service as llm
from berrys.services.planning import service as planning

# Tokens a task attempt is expected to use: the prompt (system, task, upstream outputs) and
# the answer, for the expected number of model calls (a tool round trip, and a review).
PROMPT_BASE_TOKENS = 600
UPSTREAM_TOKENS = 700
ANSWER_TOKENS = 900
CALLS_PER_TASK = 2
SECONDS_PER_CALL = 6.0


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


async def _price(
    models: llm.Runtime, database: Database, options: dict[str, Any]
) -> tuple[float, float, str]:
    """USD per 1,000 input and output tokens of the model the run's tasks would go to."""
    try:
        price = await llm.task_price(models, database, model=options.get("model"))
    except ServiceUnavailable as exc:
        return 0.0, 0.0, exc.detail
    return (
        price.input_usd_per_1k,
        price.output_usd_per_1k,
        f"{price.provider.value.lower()}/{price.model}",
    )


async def estimate_plan(
    session: AsyncSession,
    *,
    models: llm.Runtime,
    database: Database,
    plan: Any,
    user: UserOut,
    options: dict[str, Any],
) -> dict[str, Any]:
    schedule = await planning.get_schedule(session, plan_id=plan.id, user=user, iterations=200)
    predecessors: dict[Any, int] = {}
    for dep in plan.dependencies:
        predecessors[dep.to_task_id] = predecessors.get(dep.to_task_id, 0) + 1
    input_tokens = output_tokens = 0
    calls = CALLS_PER_TASK + (1 if options.get("review") else 0)
    for task in plan.tasks:
        prompt = (
            PROMPT_BASE_TOKENS
            + _tokens(task.description + " ".join(task.acceptance_criteria))
            + UPSTREAM_TOKENS * predecessors.get(task.id, 0)
        )
        input_tokens += prompt * calls
        output_tokens += ANSWER_TOKENS * calls
    price_in, price_out, price_source = await _price(models, database, options)
    cost = input_tokens / 1000 * price_in + output_tokens / 1000 * price_out
    names = {task.id: task.name for task in plan.tasks}
    critical = [names[task_id] for task_id in schedule.critical_path if task_id in names]
    seconds = len(critical) * calls * float(options.get("seconds_per_call", SECONDS_PER_CALL))
    summary = (
        f"Plan v{plan.version} '{plan.name}': {len(plan.tasks)} tasks, "
        f"{len(plan.dependencies)} dependencies. Estimated model cost ${cost:.4f} "
        f"({input_tokens + output_tokens:,} tokens); estimated run time ~{seconds / 60:.1f} min "
        f"(critical path of {len(critical)} tasks); scheduled work {schedule.finish_hours:.1f} h."
    )
    return {
        "summary": summary,
        "plan_id": str(plan.id),
        "plan_version": plan.version,
        "tasks": len(plan.tasks),
        "estimated_cost_usd": round(cost, 6),
        "estimated_tokens": input_tokens + output_tokens,
        "price_source": price_source,
        "estimated_run_seconds": round(seconds, 1),
        "scheduled_work_hours": round(schedule.finish_hours, 2),
        "critical_path": critical,
    }
