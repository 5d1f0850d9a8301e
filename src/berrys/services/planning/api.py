"""REST routes of planning: plans and their versions, tasks, dependencies, phases, schedules."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from berrys.core.contracts import ListOf
from berrys.core.deps import DatabaseDep, PageDep, Session
from berrys.services.auth.deps import CurrentUser, WriterUser
from berrys.services.llm.deps import ModelsDep
from berrys.services.planning import _editing, _generation, _insights, service
from berrys.services.planning.contracts import (
    AssignOut,
    AssignRequest,
    BottlenecksOut,
    DependencyCreate,
    DependencyOut,
    LevelOut,
    LevelRequest,
    MilestoneCreate,
    MilestoneOut,
    PhaseCreate,
    PhaseOut,
    PlanChangeOut,
    PlanClone,
    PlanCreate,
    PlanDetail,
    PlanOut,
    PlanUpdate,
    ResourceCreate,
    ResourceOut,
    ResourcesOut,
    ScheduleOut,
    TaskCreate,
    TaskOut,
    TaskUpdate,
    WhatIfOut,
    WhatIfRequest,
)

project_router = APIRouter(prefix="/api/v1/projects", tags=["planning"])
router = APIRouter(prefix="/api/v1/plans", tags=["planning"])
NO_CONTENT = status.HTTP_204_NO_CONTENT


@project_router.post(
    "/{project_id}/plans", response_model=PlanDetail, status_code=status.HTTP_201_CREATED
)
async def create_plan(
    project_id: uuid.UUID,
    body: PlanCreate,
    models: ModelsDep,
    database: DatabaseDep,
    user: WriterUser,
) -> PlanDetail:
    """A new current plan version: generated (default) or empty (``generate: false``)."""
    return await _generation.create_plan(
        models, database, project_id=project_id, plan_in=body, user=user
    )


@project_router.get("/{project_id}/plans", response_model=ListOf[PlanOut])
async def list_plans(
    project_id: uuid.UUID, session: Session, user: CurrentUser, page: PageDep
) -> ListOf[PlanOut]:
    items, total = await service.get_all(
        session, project_id=project_id, user=user, limit=page.limit, offset=page.offset
    )
    return ListOf[PlanOut](items=items, total=total)


@project_router.get("/{project_id}/plans/current", response_model=PlanDetail)
async def current_plan(project_id: uuid.UUID, session: Session, user: CurrentUser) -> PlanDetail:
    return await service.get_current(session, project_id=project_id, user=user)


@router.get("/{plan_id}", response_model=PlanDetail)
async def get_plan(plan_id: uuid.UUID, session: Session, user: CurrentUser) -> PlanDetail:
    return await service.get_detail(session, plan_id=plan_id, user=user)


@router.patch("/{plan_id}", response_model=PlanOut)
async def update_plan(
    plan_id: uuid.UUID, body: PlanUpdate, session: Session, user: WriterUser
) -> PlanOut:
    return await service.update_plan(session, plan_id=plan_id, plan_in=body, user=user)


@router.delete("/{plan_id}", status_code=NO_CONTENT)
async def delete_plan(plan_id: uuid.UUID, session: Session, user: WriterUser) -> None:
    await service.delete_plan(session, plan_id=plan_id, user=user)


@router.post("/{plan_id}/clone", response_model=PlanDetail, status_code=status.HTTP_201_CREATED)
async def clone_plan(
    plan_id: uuid.UUID, session: Session, user: WriterUser, body: PlanClone | None = None
) -> PlanDetail:
    """A new version copying this one; current unless ``make_current`` is false."""
    make_current = body.make_current if body else True
    return await service.clone(session, plan_id=plan_id, user=user, make_current=make_current)


@router.get("/{plan_id}/history", response_model=ListOf[PlanChangeOut])
async def plan_history(
    plan_id: uuid.UUID, session: Session, user: CurrentUser, page: PageDep
) -> ListOf[PlanChangeOut]:
    items, total = await service.get_history(
        session, plan_id=plan_id, user=user, limit=page.limit, offset=page.offset
    )
    return ListOf[PlanChangeOut](items=items, total=total)


@router.get("/{plan_id}/tasks", response_model=ListOf[TaskOut])
async def list_tasks(
    plan_id: uuid.UUID, session: Session, user: CurrentUser, page: PageDep
) -> ListOf[TaskOut]:
    """The plan's tasks in order (``limit``/``offset``)."""
    tasks = await service.get_tasks(session, plan_id=plan_id, user=user)
    return ListOf[TaskOut](items=tasks[page.offset : page.offset + page.limit], total=len(tasks))


@router.post("/{plan_id}/tasks", response_model=TaskOut, status_code=status.HTTP_201_CREATED)
async def create_task(
    plan_id: uuid.UUID, body: TaskCreate, session: Session, user: WriterUser
) -> TaskOut:
    return await _editing.create_task(session, plan_id=plan_id, task_in=body, user=user)


@router.patch("/{plan_id}/tasks/{task_id}", response_model=TaskOut)
async def update_task(
    plan_id: uuid.UUID, task_id: uuid.UUID, body: TaskUpdate, session: Session, user: WriterUser
) -> TaskOut:
    return await _editing.update_task(
        session, plan_id=plan_id, task_id=task_id, task_in=body, user=user
    )


@router.delete("/{plan_id}/tasks/{task_id}", status_code=NO_CONTENT)
async def delete_task(
    plan_id: uuid.UUID, task_id: uuid.UUID, session: Session, user: WriterUser
) -> None:
    await _editing.delete_task(session, plan_id=plan_id, task_id=task_id, user=user)


@router.post(
    "/{plan_id}/dependencies", response_model=DependencyOut, status_code=status.HTTP_201_CREATED
)
async def create_dependency(
    plan_id: uuid.UUID, body: DependencyCreate, session: Session, user: WriterUser
) -> DependencyOut:
    """``from_task_id -> to_task_id`` (FS/SS/FF/SF, lag); a cycle is 422 naming its tasks."""
    return await _editing.create_dependency(session, plan_id=plan_id, dependency_in=body, user=user)


@router.delete("/{plan_id}/dependencies/{dependency_id}", status_code=NO_CONTENT)
async def delete_dependency(
    plan_id: uuid.UUID, dependency_id: uuid.UUID, session: Session, user: WriterUser
) -> None:
    await _editing.delete_dependency(
        session, plan_id=plan_id, dependency_id=dependency_id, user=user
    )


@router.post("/{plan_id}/phases", response_model=PhaseOut, status_code=status.HTTP_201_CREATED)
async def create_phase(
    plan_id: uuid.UUID, body: PhaseCreate, session: Session, user: WriterUser
) -> PhaseOut:
    return await _editing.create_phase(session, plan_id=plan_id, phase_in=body, user=user)


@router.delete("/{plan_id}/phases/{phase_id}", status_code=NO_CONTENT)
async def delete_phase(
    plan_id: uuid.UUID, phase_id: uuid.UUID, session: Session, user: WriterUser
) -> None:
    await _editing.delete_phase(session, plan_id=plan_id, phase_id=phase_id, user=user)


@router.post(
    "/{plan_id}/milestones", response_model=MilestoneOut, status_code=status.HTTP_201_CREATED
)
async def create_milestone(
    plan_id: uuid.UUID, body: MilestoneCreate, session: Session, user: WriterUser
) -> MilestoneOut:
    return await _editing.create_milestone(session, plan_id=plan_id, milestone_in=body, user=user)


@router.delete("/{plan_id}/milestones/{milestone_id}", status_code=NO_CONTENT)
async def delete_milestone(
    plan_id: uuid.UUID, milestone_id: uuid.UUID, session: Session, user: WriterUser
) -> None:
    await _editing.delete_milestone(session, plan_id=plan_id, milestone_id=milestone_id, user=user)


@router.get("/{plan_id}/resources", response_model=ResourcesOut)
async def resource_loads(plan_id: uuid.UUID, session: Session, user: CurrentUser) -> ResourcesOut:
    """Allocated hours and over-allocated periods per resource (agents and people)."""
    return await _insights.get_resources(session, plan_id=plan_id, user=user)


@router.post(
    "/{plan_id}/resources", response_model=ResourceOut, status_code=status.HTTP_201_CREATED
)
async def create_resource(
    plan_id: uuid.UUID, body: ResourceCreate, session: Session, user: WriterUser
) -> ResourceOut:
    return await _editing.create_resource(session, plan_id=plan_id, resource_in=body, user=user)


@router.delete("/{plan_id}/resources/{resource_id}", status_code=NO_CONTENT)
async def delete_resource(
    plan_id: uuid.UUID, resource_id: uuid.UUID, session: Session, user: WriterUser
) -> None:
    await _editing.delete_resource(session, plan_id=plan_id, resource_id=resource_id, user=user)


@router.get("/{plan_id}/schedule", response_model=ScheduleOut)
async def get_schedule(
    plan_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    iterations: Annotated[
        int, Query(ge=1, le=_insights.MAX_ITERATIONS, description="Monte Carlo samples.")
    ] = _insights.DEFAULT_ITERATIONS,
    seed: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="Default: per plan.")] = None,
) -> ScheduleOut:
    """Dates, slack, the critical path and the P50/P80/P95 finish."""
    return await _insights.get_schedule(
        session, plan_id=plan_id, user=user, iterations=iterations, seed=seed
    )


@router.get("/{plan_id}/bottlenecks", response_model=BottlenecksOut)
async def get_bottlenecks(
    plan_id: uuid.UUID, session: Session, user: CurrentUser
) -> BottlenecksOut:
    """Over-allocation, skill gaps, dependency hubs and long chains, worst first."""
    return await _insights.get_bottlenecks(session, plan_id=plan_id, user=user)


@router.post("/{plan_id}/assign", response_model=AssignOut)
async def assign_agents(
    plan_id: uuid.UUID, body: AssignRequest, session: Session, user: WriterUser
) -> AssignOut:
    """Assign agents by skill fit and TIME / COST / BALANCED (unassigned tasks by default)."""
    return await _insights.assign(session, plan_id=plan_id, request=body, user=user)


@router.post("/{plan_id}/level", response_model=LevelOut)
async def level_resources(
    plan_id: uuid.UUID, session: Session, user: WriterUser, body: LevelRequest | None = None
) -> LevelOut:
    """Shift tasks so no resource is over-allocated; saved only with ``apply: true``."""
    apply = body.apply if body else False
    return await _insights.level(session, plan_id=plan_id, user=user, apply=apply)


@router.post("/{plan_id}/what-if", response_model=WhatIfOut)
async def what_if(
    plan_id: uuid.UUID, body: WhatIfRequest, session: Session, user: CurrentUser
) -> WhatIfOut:
    """The schedule delta of the changes, computed in memory; nothing is saved."""
    return await _insights.what_if(session, plan_id=plan_id, request=body, user=user)
