"""REST routes of the audit log: entries a caller may read, and verifying the chain."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from berrys.core.contracts import ListOf
from berrys.core.deps import PageDep, Session
from berrys.services.audit import service
from berrys.services.audit.contracts import AuditAction, AuditEntryOut, AuditVerification
from berrys.services.auth.deps import AdminUser, CurrentUser
from berrys.services.projects import service as projects

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=ListOf[AuditEntryOut])
async def list_audit(
    session: Session,
    user: CurrentUser,
    page: PageDep,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: AuditAction | None = None,
    since: Annotated[AwareDatetime | None, Query(description="ISO 8601, inclusive.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="ISO 8601, exclusive.")] = None,
) -> ListOf[AuditEntryOut]:
    """Audit entries, newest first: all for an ADMIN, else your own actions and your projects'."""
    visible_to = await projects.log_scope(session, user=user)
    items, total = await service.get_all(
        session,
        limit=page.limit,
        offset=page.offset,
        entity_type=entity_type,
        entity_id=entity_id,
        project_id=project_id,
        actor_id=actor_id,
        action=action,
        since=since,
        until=until,
        visible_to=visible_to,
    )
    return ListOf[AuditEntryOut](items=items, total=total)


@router.get("/verify", response_model=AuditVerification)
async def verify_audit(session: Session, _: AdminUser) -> AuditVerification:
    """Check the whole hash chain (ADMIN only)."""
    return await service.verify(session)
