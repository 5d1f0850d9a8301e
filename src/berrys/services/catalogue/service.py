"""The catalogue service: project types and deliverable types, and what Berrys understood of
each project (its profile)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue.contracts import ProfileOut
from berrys.services.catalogue.tables import ProjectProfile
from berrys.services.projects import service as projects


async def get_profile(
    session: AsyncSession, *, project_id: uuid.UUID, user: UserOut
) -> ProfileOut | None:
    """The project's profile, or None when it was never understood (``user`` must see it)."""
    await projects.get(session, project_id=project_id, user=user)
    row = (
        await session.execute(select(ProjectProfile).where(ProjectProfile.project_id == project_id))
    ).scalar_one_or_none()
    return None if row is None else ProfileOut.model_validate(row)
