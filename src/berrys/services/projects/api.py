"""REST routes of projects: create, read, change, move along the lifecycle; history and stats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from berrys.core.contracts import ListOf
from berrys.core.deps import PageDep, Session
from berrys.services.auth.deps import CurrentUser, WriterUser
from berrys.services.pipeline import service as pipeline
from berrys.services.projects import service
from berrys.services.projects.contracts import (
    ProjectCreate,
    ProjectOut,
    ProjectStateOut,
    ProjectStats,
    ProjectStatus,
    ProjectUpdate,
    TransitionRequest,
)
from berrys.services.projects.deps import VisibleProject, WritableProject

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


@router.post("", response_model=ProjectOut, status_code=status.HTTP_201_CREATED)
async def create_project(body: ProjectCreate, session: Session, user: WriterUser) -> ProjectOut:
    """Create a project (DRAFT unless PLANNING is asked for)."""
    return await service.create(session, project_in=body, user=user)


@router.get("", response_model=ListOf[ProjectOut])
async def list_projects(
    session: Session,
    user: CurrentUser,
    page: PageDep,
    status: Annotated[ProjectStatus | None, Query()] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in name or description.")
    ] = None,
) -> ListOf[ProjectOut]:
    items, total = await service.get_all(
        session, user=user, limit=page.limit, offset=page.offset, status=status, q=q
    )
    return ListOf[ProjectOut](items=items, total=total)


@router.get("/{project_id}", response_model=ProjectOut)
async def get_project(project: VisibleProject) -> ProjectOut:
    return project


@router.patch("/{project_id}", response_model=ProjectOut)
async def update_project(
    project: WritableProject, body: ProjectUpdate, session: Session, user: WriterUser
) -> ProjectOut:
    return await service.update(session, project_id=project.id, project_in=body, user=user)


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(project: WritableProject, session: Session, user: WriterUser) -> None:
    await service.delete(session, project_id=project.id, user=user)


@router.post("/{project_id}/transitions", response_model=ProjectOut)
async def transition_project(
    project: WritableProject, body: TransitionRequest, session: Session, user: WriterUser
) -> ProjectOut:
    """Move the project to ``to_status``; an illegal move is 409 naming the allowed states."""
    return await service.transition(
        session, project_id=project.id, to_status=body.to_status, user=user, reason=body.reason
    )


@router.get("/{project_id}/history", response_model=ListOf[ProjectStateOut])
async def project_history(
    project: VisibleProject, session: Session, user: CurrentUser, page: PageDep
) -> ListOf[ProjectStateOut]:
    items, total = await service.get_history(
        session, project_id=project.id, user=user, limit=page.limit, offset=page.offset
    )
    return ListOf[ProjectStateOut](items=items, total=total)


@router.get("/{project_id}/stats", response_model=ProjectStats)
async def project_stats(
    project: VisibleProject, session: Session, user: CurrentUser
) -> ProjectStats:
    return await pipeline.project_stats(session, project_id=project.id, user=user)
