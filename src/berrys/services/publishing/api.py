"""REST routes of publishing under a project: ask for a publication of a reviewed run (a
person approves it through its interaction), read them back, download a published bundle.
Readers see them, writers ask; anyone else's project is 404."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse

from berrys.core.contracts import ListOf
from berrys.core.deps import PageDep, Session, SettingsDep
from berrys.services.auth.deps import CurrentUser, WriterUser
from berrys.services.llm.deps import ModelsDep
from berrys.services.projects.deps import VisibleProject, WritableProject
from berrys.services.publishing import service
from berrys.services.publishing.contracts import (
    PublicationCreate,
    PublicationOut,
    PublicationStatus,
)
from berrys.services.runs import service as runs

router = APIRouter(prefix="/api/v1/projects/{project_id}/publications", tags=["publishing"])


@router.get("", response_model=ListOf[PublicationOut])
async def list_publications(
    project: VisibleProject,
    session: Session,
    user: CurrentUser,
    page: PageDep,
    status: Annotated[PublicationStatus | None, Query()] = None,
) -> ListOf[PublicationOut]:
    """The project's publications, newest first."""
    items, total = await service.get_all(
        session,
        project_id=project.id,
        user=user,
        limit=page.limit,
        offset=page.offset,
        status=status,
    )
    return ListOf[PublicationOut](items=items, total=total)


@router.post("", response_model=PublicationOut, status_code=status.HTTP_201_CREATED)
async def create_publication(
    project: WritableProject,
    body: PublicationCreate,
    session: Session,
    user: WriterUser,
    models: ModelsDep,
    settings: SettingsDep,
) -> PublicationOut:
    """Ask to publish a run's deliverables (default: the latest finished run) to BUNDLE,
    GIT (``git`` options) or WEBHOOK (``webhook`` options). Only a COMPLETED run, every
    deliverable reviewed, may go out (409 naming what still waits for a person). The
    publication is PENDING_APPROVAL until a person answers its approval
    (``interaction_id``); approved, it is carried out within seconds."""
    return await service.create(
        session, models.secrets, settings, project_id=project.id, publication_in=body, user=user
    )


@router.get("/{publication_id}", response_model=PublicationOut)
async def get_publication(
    project: VisibleProject, publication_id: uuid.UUID, session: Session, user: CurrentUser
) -> PublicationOut:
    """One publication: its status, who asked and approved, where it went (``location``)
    and, for a WEBHOOK, its delivery with every attempt."""
    return await service.get(
        session, project_id=project.id, publication_id=publication_id, user=user
    )


@router.get(
    "/{publication_id}/bundle",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The bundle's zip."}},
)
async def download_bundle(
    project: VisibleProject,
    publication_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    settings: SettingsDep,
) -> FileResponse:
    """A published BUNDLE: the deliverables under ``files/``, ``manifest.json`` and an
    ``index.html`` that shows them; 404 before it is published."""
    name, path = await service.bundle(
        session, settings, project_id=project.id, publication_id=publication_id, user=user
    )
    return FileResponse(
        path, media_type="application/zip", headers=runs.artifact_download_headers(name)
    )
