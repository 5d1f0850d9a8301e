"""The publishing service's façade: asking for a publication of a reviewed run (behind a
person's approval), reading publications and their bundles, the pass that carries approved
ones out and delivers their webhooks, and the loop a process owns."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from berrys.config import Settings
from berrys.core.errors import NotFound
from berrys.services.auth.contracts import UserOut
from berrys.services.publishing._asking import create, get, get_all, rotate_secrets, row_of
from berrys.services.publishing._loop import PUBLICATION_DELIVERIES, PublishLoop, publish_due
from berrys.services.publishing._targets import bundle_path
from berrys.services.publishing.contracts import PublicationStatus, PublicationTarget

__all__ = [
    "PUBLICATION_DELIVERIES",
    "PublishLoop",
    "bundle",
    "create",
    "get",
    "get_all",
    "publish_due",
    "rotate_secrets",
]


async def bundle(
    session: AsyncSession,
    settings: Settings,
    *,
    project_id: uuid.UUID,
    publication_id: uuid.UUID,
    user: UserOut,
) -> tuple[str, Path]:
    """A published BUNDLE's file name and zip; NotFound for others' or one not published."""
    row = await row_of(session, project_id=project_id, publication_id=publication_id, user=user)
    if row.target != PublicationTarget.BUNDLE or row.status != PublicationStatus.PUBLISHED:
        raise NotFound(f"Publication {publication_id} has no published bundle")
    path = bundle_path(settings, project_id, publication_id)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound(f"The bundle of publication {publication_id} is no longer stored")
    return f"publication-{str(publication_id)[:8]}.zip", path
