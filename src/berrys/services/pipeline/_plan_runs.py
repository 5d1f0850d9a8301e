"""A run over a snapshot of a project's plan, gated behind its estimate when asked.

It joins projects, planning, the cost estimate (models' prices) and the run service, so it
lives in the pipeline, above all of them.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.auth.contracts import UserOut
from berrys.services.llm import service as llm
from berrys.services.pipeline._estimate import estimate_plan
from berrys.services.planning import service as planning
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import DependencySpec, RunCreate, RunOut, TaskSpec


async def create_from_plan(
    session: AsyncSession,
    *,
    models: llm.Runtime,
    database: Database,
    project_id: uuid.UUID,
    run_in: RunCreate,
    user: UserOut,
) -> RunOut:
    """A run over a snapshot of the project's current plan (or ``run_in.plan_id``).

    Plan approval (``run_in.require_plan_approval``, default the project's metadata setting
    ``require_plan_approval``) gates the run behind an APPROVAL showing the estimate.
    """
    project = await projects.get(session, project_id=project_id, user=user)
    if run_in.plan_id is not None:
        plan = await planning.get_detail(session, plan_id=run_in.plan_id, user=user)
        if plan.project_id != project_id:
            raise NotFound.of("Plan", run_in.plan_id)
    else:
        try:
            plan = await planning.get_current(session, project_id=project_id, user=user)
        except NotFound:
            raise Unprocessable(
                f"Project {project_id} has no plan to run: create or generate one first "
                f"(POST /api/v1/projects/{project_id}/plans)"
            ) from None
    if not plan.tasks:
        raise Unprocessable(f"Plan {plan.id} has no tasks to run")
    task_specs, dep_specs = plan_snapshot(plan)
    require = run_in.require_plan_approval
    if require is None:
        require = bool(project.metadata.get("require_plan_approval", False))
    options = {**run_in.options}
    approval = None
    if require:
        approval = await estimate_plan(
            session, models=models, database=database, plan=plan, user=user, options=options
        )
    return await runs.create(
        session,
        project_id=project_id,
        tasks=task_specs,
        dependencies=dep_specs,
        actor_id=user.id,
        plan_id=plan.id,
        plan_version=plan.version,
        max_concurrency=run_in.max_concurrency,
        provider_limits=run_in.provider_limits,
        budget_usd=run_in.budget_usd,
        options=options,
        plan_approval=approval,
    )


def plan_snapshot(plan: Any) -> tuple[list[TaskSpec], list[DependencySpec]]:
    """The plan version's tasks and dependencies as the run's own copy."""
    ordered = sorted(plan.tasks, key=lambda task: (task.position, task.name))
    task_specs = [
        TaskSpec(
            key=str(task.id),
            name=task.name[:200],
            description=task.description,
            acceptance_criteria=list(task.acceptance_criteria),
            risk_level=task.risk_level,
            agent_id=task.assigned_agent_id,
            plan_task_id=task.id,
            spec={
                "estimate_hours": task.duration_hours,
                "priority": task.priority.value,
                "required_skills": list(task.required_skills),
                "deliverable": task.deliverable,
            },
        )
        for task in ordered
    ]
    dep_specs = [
        DependencySpec(
            from_key=str(dep.from_task_id),
            to_key=str(dep.to_task_id),
            dependency_type=dep.type,
            lag_hours=dep.lag_hours,
        )
        for dep in plan.dependencies
    ]
    return task_specs, dep_specs
