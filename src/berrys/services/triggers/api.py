"""REST routes of triggers under a project: its schedules (with the fire times each took)
and its run webhooks (with every delivery and attempt). Readers see them, writers change
them; anyone else's project is 404."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from berrys.core.contracts import ListOf
from berrys.core.deps import PageDep, Session
from berrys.services.auth.deps import CurrentUser, WriterUser
from berrys.services.llm.deps import ModelsDep
from berrys.services.projects.deps import VisibleProject, WritableProject
from berrys.services.triggers import service
from berrys.services.triggers.contracts import (
    ScheduleCreate,
    ScheduleFireOut,
    ScheduleOut,
    ScheduleUpdate,
    WebhookCreate,
    WebhookDeliveryOut,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/v1/projects/{project_id}", tags=["triggers"])
_schedules = service.schedules
_webhooks = service.webhooks


@router.get("/schedules", response_model=ListOf[ScheduleOut])
async def list_schedules(
    project: VisibleProject, session: Session, user: CurrentUser, page: PageDep
) -> ListOf[ScheduleOut]:
    items, total = await _schedules.get_all(
        session, project_id=project.id, user=user, limit=page.limit, offset=page.offset
    )
    return ListOf[ScheduleOut](items=items, total=total)


@router.post("/schedules", response_model=ScheduleOut, status_code=status.HTTP_201_CREATED)
async def create_schedule(
    project: WritableProject, body: ScheduleCreate, session: Session, user: WriterUser
) -> ScheduleOut:
    """A cron schedule (UTC) that starts a run of the project's current plan at each fire
    time, as its creator; ``missed``: SKIP fires once after a gap, CATCH_UP each time."""
    return await _schedules.create(session, project_id=project.id, schedule_in=body, user=user)


@router.get("/schedules/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(
    project: VisibleProject, schedule_id: uuid.UUID, session: Session, user: CurrentUser
) -> ScheduleOut:
    return await _schedules.get(session, project_id=project.id, schedule_id=schedule_id, user=user)


@router.patch("/schedules/{schedule_id}", response_model=ScheduleOut)
async def update_schedule(
    project: WritableProject,
    schedule_id: uuid.UUID,
    body: ScheduleUpdate,
    session: Session,
    user: WriterUser,
) -> ScheduleOut:
    return await _schedules.update(
        session, project_id=project.id, schedule_id=schedule_id, schedule_in=body, user=user
    )


@router.delete("/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_schedule(
    project: WritableProject, schedule_id: uuid.UUID, session: Session, user: WriterUser
) -> None:
    await _schedules.delete(session, project_id=project.id, schedule_id=schedule_id, user=user)


@router.get("/schedules/{schedule_id}/fires", response_model=ListOf[ScheduleFireOut])
async def list_schedule_fires(
    project: VisibleProject,
    schedule_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    page: PageDep,
) -> ListOf[ScheduleFireOut]:
    """The fire times the schedule took, newest first: each run started, or why none."""
    items, total = await _schedules.fires(
        session,
        project_id=project.id,
        schedule_id=schedule_id,
        user=user,
        limit=page.limit,
        offset=page.offset,
    )
    return ListOf[ScheduleFireOut](items=items, total=total)


@router.get("/webhooks", response_model=ListOf[WebhookOut])
async def list_webhooks(
    project: VisibleProject, session: Session, user: CurrentUser, page: PageDep
) -> ListOf[WebhookOut]:
    items, total = await _webhooks.get_all(
        session, project_id=project.id, user=user, limit=page.limit, offset=page.offset
    )
    return ListOf[WebhookOut](items=items, total=total)


@router.post("/webhooks", response_model=WebhookOut, status_code=status.HTTP_201_CREATED)
async def create_webhook(
    project: WritableProject,
    body: WebhookCreate,
    session: Session,
    user: WriterUser,
    models: ModelsDep,
) -> WebhookOut:
    """A webhook POSTed the chosen run events (JSON), signed with HMAC-SHA256 of
    ``"<X-Berrys-Timestamp>." + body`` in ``X-Berrys-Signature`` when it has a secret."""
    return await _webhooks.create(
        session, models.secrets, project_id=project.id, webhook_in=body, user=user
    )


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(
    project: VisibleProject, webhook_id: uuid.UUID, session: Session, user: CurrentUser
) -> WebhookOut:
    return await _webhooks.get(session, project_id=project.id, webhook_id=webhook_id, user=user)


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut)
async def update_webhook(
    project: WritableProject,
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    session: Session,
    user: WriterUser,
    models: ModelsDep,
) -> WebhookOut:
    """Change a webhook; ``secret: ""`` removes its secret (deliveries go unsigned)."""
    return await _webhooks.update(
        session,
        models.secrets,
        project_id=project.id,
        webhook_id=webhook_id,
        webhook_in=body,
        user=user,
    )


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    project: WritableProject, webhook_id: uuid.UUID, session: Session, user: WriterUser
) -> None:
    await _webhooks.delete(session, project_id=project.id, webhook_id=webhook_id, user=user)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=ListOf[WebhookDeliveryOut])
async def list_webhook_deliveries(
    project: VisibleProject,
    webhook_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    page: PageDep,
) -> ListOf[WebhookDeliveryOut]:
    """Deliveries newest first: status, attempts (each with its status code), next retry."""
    items, total = await _webhooks.deliveries(
        session,
        project_id=project.id,
        webhook_id=webhook_id,
        user=user,
        limit=page.limit,
        offset=page.offset,
    )
    return ListOf[WebhookDeliveryOut](items=items, total=total)
