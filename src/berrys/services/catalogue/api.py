"""REST routes of the catalogue: project and deliverable types, and a project's profile (its
types, sizes and requirements)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from berrys.core.contracts import ListOf
from berrys.core.deps import Session
from berrys.core.errors import NotFound
from berrys.services.auth.deps import CurrentUser
from berrys.services.catalogue import service
from berrys.services.catalogue.contracts import (
    DeliverableType,
    ProfileOut,
    ProjectType,
    ProjectTypeSummary,
)
from berrys.services.projects.deps import VisibleProject

router = APIRouter(prefix="/api/v1/catalogue", tags=["catalogue"])
project_router = APIRouter(prefix="/api/v1/projects", tags=["catalogue"])
CatalogueKey = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


async def _known(request: Request) -> service.Catalogue:
    """The catalogue of the application's settings (``app.state.services``)."""
    return await asyncio.to_thread(service.current, request.app.state.services.settings)


CatalogueDep = Annotated[service.Catalogue, Depends(_known)]


@router.get("/types", response_model=ListOf[ProjectTypeSummary])
async def list_types(_: CurrentUser, known: CatalogueDep) -> ListOf[ProjectTypeSummary]:
    """The project types Berrys knows (shipped, and the data directory's own)."""
    items = [service.summary(t) for t in service.project_types(known)]
    return ListOf[ProjectTypeSummary](items=items, total=len(items))


@router.get("/types/{key}", response_model=ProjectType)
async def get_type(key: CatalogueKey, _: CurrentUser, known: CatalogueDep) -> ProjectType:
    """One project type whole: signals, implied requirements, team, breakdown, risks."""
    found = service.project_type(known, key)
    if found is None:
        raise NotFound(f"There is no project type {key!r}: GET /api/v1/catalogue/types lists them")
    return found


@router.get("/deliverables/{key}", response_model=DeliverableType)
async def get_deliverable(
    key: CatalogueKey, _: CurrentUser, known: CatalogueDep
) -> DeliverableType:
    """One deliverable type: its outline, format and acceptance criteria."""
    found = service.deliverable_type(known, key)
    if found is None:
        raise NotFound(f"There is no deliverable type {key!r}")
    return found


@project_router.get("/{project_id}/profile", response_model=ProfileOut)
async def get_profile(project: VisibleProject, session: Session, user: CurrentUser) -> ProfileOut:
    """What Berrys understood of the project: its types and why, sizes, requirements, title."""
    profile = await service.get_profile(session, project_id=project.id, user=user)
    if profile is None:
        raise NotFound(
            "The project has not been understood yet: generate its team "
            f"(POST /api/v1/projects/{project.id}/agents/generate)"
        )
    return profile
