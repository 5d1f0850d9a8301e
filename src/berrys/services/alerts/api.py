"""REST routes of alerts: rules (global ones an ADMIN's, a project's its writers'), their
episodes with the notifications each sent, and acknowledging a firing one."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from berrys.core.contracts import ListOf
from berrys.core.deps import PageDep, Session, SettingsDep
from berrys.core.errors import Unprocessable
from berrys.services.alerts import service
from berrys.services.alerts.contracts import (
    AlertDeliveryOut,
    AlertEpisodeOut,
    AlertRuleCreate,
    AlertRuleOut,
    AlertRuleUpdate,
    EpisodeStatus,
)
from berrys.services.auth.deps import CurrentUser, WriterUser
from berrys.services.llm.deps import ModelsDep

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
_NO_SMTP = "Alert emails need an SMTP server: set BERRYS_SMTP_HOST and BERRYS_SMTP_FROM"


@router.get("/rules", response_model=ListOf[AlertRuleOut])
async def list_rules(
    session: Session,
    user: CurrentUser,
    page: PageDep,
    project_id: Annotated[uuid.UUID | None, Query()] = None,
) -> ListOf[AlertRuleOut]:
    """Rules the caller may see: their projects', and every global one for an ADMIN."""
    items, total = await service.get_all(
        session, user=user, limit=page.limit, offset=page.offset, project_id=project_id
    )
    return ListOf[AlertRuleOut](items=items, total=total)


@router.post("/rules", response_model=AlertRuleOut, status_code=status.HTTP_201_CREATED)
async def create_rule(
    body: AlertRuleCreate,
    session: Session,
    user: WriterUser,
    models: ModelsDep,
    settings: SettingsDep,
) -> AlertRuleOut:
    """A rule on a project (its writers) or, without ``project_id``, on every project (ADMIN).
    ``condition`` is one of the kinds, with its own parameters; it is evaluated at once."""
    if body.email_to and not (settings.smtp_host and settings.smtp_from):
        raise Unprocessable(_NO_SMTP)
    return await service.create(session, models.secrets, rule_in=body, user=user)


@router.get("/rules/{rule_id}", response_model=AlertRuleOut)
async def get_rule(rule_id: uuid.UUID, session: Session, user: CurrentUser) -> AlertRuleOut:
    return await service.get(session, rule_id=rule_id, user=user)


@router.patch("/rules/{rule_id}", response_model=AlertRuleOut)
async def update_rule(
    rule_id: uuid.UUID,
    body: AlertRuleUpdate,
    session: Session,
    user: WriterUser,
    models: ModelsDep,
    settings: SettingsDep,
) -> AlertRuleOut:
    """Change a rule; ``webhook_url: ""`` removes its webhook."""
    if body.email_to and not (settings.smtp_host and settings.smtp_from):
        raise Unprocessable(_NO_SMTP)
    return await service.update(session, models.secrets, rule_id=rule_id, rule_in=body, user=user)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: uuid.UUID, session: Session, user: WriterUser) -> None:
    """Delete a rule with its episodes and their notifications."""
    await service.delete(session, rule_id=rule_id, user=user)


@router.get("/episodes", response_model=ListOf[AlertEpisodeOut])
async def list_episodes(
    session: Session,
    user: CurrentUser,
    page: PageDep,
    status: Annotated[EpisodeStatus | None, Query()] = None,
    rule_id: Annotated[uuid.UUID | None, Query()] = None,
    project_id: Annotated[uuid.UUID | None, Query()] = None,
) -> ListOf[AlertEpisodeOut]:
    """Episodes of the rules the caller may see, the latest opened first."""
    items, total = await service.get_episodes(
        session,
        user=user,
        limit=page.limit,
        offset=page.offset,
        status=status,
        rule_id=rule_id,
        project_id=project_id,
    )
    return ListOf[AlertEpisodeOut](items=items, total=total)


@router.get("/episodes/{episode_id}", response_model=AlertEpisodeOut)
async def get_episode(
    episode_id: uuid.UUID, session: Session, user: CurrentUser
) -> AlertEpisodeOut:
    return await service.get_episode(session, episode_id=episode_id, user=user)


@router.post("/episodes/{episode_id}/acknowledge", response_model=AlertEpisodeOut)
async def acknowledge_episode(
    episode_id: uuid.UUID, session: Session, user: WriterUser
) -> AlertEpisodeOut:
    """Say someone is on a FIRING episode (409 once resolved or acknowledged)."""
    return await service.acknowledge(session, episode_id=episode_id, user=user)


@router.get("/episodes/{episode_id}/deliveries", response_model=list[AlertDeliveryOut])
async def list_deliveries(
    episode_id: uuid.UUID, session: Session, user: CurrentUser
) -> list[AlertDeliveryOut]:
    """The episode's notifications (webhook, email), each with every delivery attempt."""
    return await service.deliveries(session, episode_id=episode_id, user=user)
