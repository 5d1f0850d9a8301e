"""The project in the path, resolved before anything else about the request.

Resolving access as a dependency means someone else's project is 404 before the body is
even validated, so no route leaks whether a project exists through its error messages.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from berrys.core.deps import Session, dependency_reads
from berrys.services.auth.deps import CurrentUser, WriterUser
from berrys.services.projects import service
from berrys.services.projects.contracts import ProjectOut


async def visible_project(
    project_id: uuid.UUID, user: CurrentUser, request: Request, session: Session
) -> ProjectOut:
    async with dependency_reads(request, session) as reads:
        return await service.get(reads, project_id=project_id, user=user)


async def writable_project(
    project_id: uuid.UUID, user: WriterUser, request: Request, session: Session
) -> ProjectOut:
    async with dependency_reads(request, session) as reads:
        return await service.get(reads, project_id=project_id, user=user)


VisibleProject = Annotated[ProjectOut, Depends(visible_project)]
WritableProject = Annotated[ProjectOut, Depends(writable_project)]
