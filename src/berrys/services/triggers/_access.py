"""Who reaches a trigger: anyone who sees its project reads it, its writers change it; to
anyone else it does not exist (404)."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Base
from berrys.core.errors import NotFound
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.projects import service as projects
from berrys.services.triggers.tables import Schedule, Webhook

RowT = TypeVar("RowT", bound=Base)


async def project_row(
    session: AsyncSession,
    model: type[RowT],
    *,
    label: str,
    project_id: uuid.UUID,
    row_id: uuid.UUID,
    user: UserOut,
    write: bool = False,
) -> RowT:
    """The row of ``model`` with ``row_id`` under ``project_id``, if ``user`` may reach it."""
    await projects.get(session, project_id=project_id, user=user)
    if write:
        auth.require_writer(user)
    row = await session.get(model, row_id)
    if row is None or getattr(row, "project_id", None) != project_id:
        raise NotFound.of(label, row_id)
    return row


async def record_change(
    session: AsyncSession,
    entity_type: str,
    row: Schedule | Webhook,
    action: AuditAction,
    user: UserOut,
    *,
    before: Any,
    after: Any,
) -> None:
    """The audit entry of a change to a schedule or a webhook, by ``user``."""
    await audit.record(
        session,
        entity_type=entity_type,
        entity_id=row.id,
        project_id=row.project_id,
        action=action,
        actor_id=user.id,
        before=before,
        after=after,
    )
