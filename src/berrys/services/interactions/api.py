"""REST routes of interactions: what waits for a person, and their answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from berrys.core.contracts import ListOf
from berrys.core.deps import PageDep, Session
from berrys.services.auth.deps import CurrentUser, WriterUser
from berrys.services.interactions import service
from berrys.services.interactions.contracts import (
    HumanInteractionType,
    InteractionOut,
    InteractionResponse,
    InteractionStatus,
)
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs

router = APIRouter(prefix="/api/v1/interactions", tags=["interactions"])


@router.get("", response_model=ListOf[InteractionOut])
async def list_interactions(
    session: Session,
    user: CurrentUser,
    page: PageDep,
    status: Annotated[InteractionStatus | None, Query()] = None,
    project_id: Annotated[uuid.UUID | None, Query()] = None,
    run_id: Annotated[uuid.UUID | None, Query()] = None,
    type: Annotated[HumanInteractionType | None, Query()] = None,
) -> ListOf[InteractionOut]:
    """Interactions of the projects the caller can see, newest first."""
    visible = await projects.visible_scope(session, user=user)
    items, total = await service.get_all(
        session,
        limit=page.limit,
        offset=page.offset,
        project_ids=visible,
        status=status,
        project_id=project_id,
        run_id=run_id,
        type=type,
    )
    return ListOf[InteractionOut](items=items, total=total)


@router.get("/{interaction_id}", response_model=InteractionOut)
async def get_interaction(
    interaction_id: uuid.UUID, session: Session, user: CurrentUser
) -> InteractionOut:
    visible = await projects.visible_scope(session, user=user)
    return await service.get(session, interaction_id=interaction_id, project_ids=visible)


@router.post("/{interaction_id}/respond", response_model=InteractionOut)
async def respond(
    interaction_id: uuid.UUID, body: InteractionResponse, session: Session, user: WriterUser
) -> InteractionOut:
    """Answer a PENDING interaction: approval ``{approved, comment?}``, clarification
    ``{answer}``, feedback ``{feedback}``, notification ``{acknowledged: true}``. A waiting
    run resumes at once; an answered or expired interaction is 409."""
    return await runs.respond_interaction(
        session, interaction_id=interaction_id, response=body, user=user
    )
