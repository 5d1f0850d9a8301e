"""The dashboard's audit page: the trail of who did what, and whether its chain holds."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from berrys.core.contracts import MAX_INT
from berrys.core.enums import UserRole
from berrys.services.audit import service as audit
from berrys.services.projects import service as projects
from berrys.web.pages import _database
from berrys.web.security import WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    user: WebUser,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    project_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> Response:
    project_uuid = _uuid_or_none(project_id)
    async with _database(request).transaction(read_only=True) as session:
        visible = (
            None
            if user.role == UserRole.ADMIN
            else (user.id, await projects.visible_ids(session, user=user))
        )
        entries, total = await audit.get_all(
            session,
            limit=50,
            offset=offset,
            entity_type=entity_type or None,
            project_id=project_uuid,
            visible_to=visible,
        )
        verification = await audit.verify(session) if user.role == UserRole.ADMIN else None
    return render(
        request,
        "audit.html",
        entries=entries,
        total=total,
        offset=offset,
        entity_type=entity_type or "",
        project_id=project_id or "",
        verification=verification,
    )


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
