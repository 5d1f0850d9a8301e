"""Run webhooks of a project: creating, changing and deleting them (audited; the secret
encrypted, never shown), and their deliveries with every attempt."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page
from berrys.core.encryption import SecretBox, rotate_stored
from berrys.services.alerts.contracts import DeliveryAttemptOut
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.projects import service as projects
from berrys.services.triggers._access import project_row, record_change
from berrys.services.triggers.contracts import (
    WebhookCreate,
    WebhookDeliveryOut,
    WebhookEvent,
    WebhookOut,
    WebhookUpdate,
)
from berrys.services.triggers.tables import Webhook, WebhookDelivery, WebhookDeliveryAttempt


def webhook_out(row: Webhook) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        project_id=row.project_id,
        url=row.url,
        events=[WebhookEvent(event) for event in row.events],
        secret_set=row.secret_encrypted is not None,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _row(
    session: AsyncSession, project_id: uuid.UUID, webhook_id: uuid.UUID, user: UserOut, **kw: bool
) -> Webhook:
    return await project_row(
        session, Webhook, label="Webhook", project_id=project_id, row_id=webhook_id, user=user, **kw
    )


async def create(
    session: AsyncSession,
    box: SecretBox,
    *,
    project_id: uuid.UUID,
    webhook_in: WebhookCreate,
    user: UserOut,
) -> WebhookOut:
    """A webhook of a project its writer may see; told of run events from now on."""
    await projects.get(session, project_id=project_id, user=user)
    auth.require_writer(user)
    secret = webhook_in.secret
    row = Webhook(
        project_id=project_id,
        url=webhook_in.url,
        events=sorted({event.value for event in webhook_in.events}),
        secret_encrypted=None if secret is None else box.encrypt(secret.get_secret_value()),
        enabled=webhook_in.enabled,
        created_by=user.id,
    )
    session.add(row)
    await session.flush()
    out = webhook_out(row)
    await record_change(session, "webhook", row, AuditAction.CREATE, user, before=None, after=out)
    return out


async def update(
    session: AsyncSession,
    box: SecretBox,
    *,
    project_id: uuid.UUID,
    webhook_id: uuid.UUID,
    webhook_in: WebhookUpdate,
    user: UserOut,
) -> WebhookOut:
    row = await _row(session, project_id, webhook_id, user, write=True)
    before = webhook_out(row)
    if webhook_in.url is not None:
        row.url = webhook_in.url
    if webhook_in.events is not None:
        row.events = sorted({event.value for event in webhook_in.events})
    if webhook_in.enabled is not None:
        row.enabled = webhook_in.enabled
    if webhook_in.secret is not None:
        value = webhook_in.secret.get_secret_value()
        row.secret_encrypted = box.encrypt(value) if value else None
    await session.flush()
    out = webhook_out(row)
    await record_change(session, "webhook", row, AuditAction.UPDATE, user, before=before, after=out)
    return out


async def delete(
    session: AsyncSession, *, project_id: uuid.UUID, webhook_id: uuid.UUID, user: UserOut
) -> None:
    row = await _row(session, project_id, webhook_id, user, write=True)
    await record_change(
        session, "webhook", row, AuditAction.DELETE, user, before=webhook_out(row), after=None
    )
    await session.delete(row)


async def get(
    session: AsyncSession, *, project_id: uuid.UUID, webhook_id: uuid.UUID, user: UserOut
) -> WebhookOut:
    return webhook_out(await _row(session, project_id, webhook_id, user))


async def get_all(
    session: AsyncSession, *, project_id: uuid.UUID, user: UserOut, limit: int, offset: int
) -> tuple[list[WebhookOut], int]:
    await projects.get(session, project_id=project_id, user=user)
    rows, total = await fetch_page(
        session,
        select(Webhook)
        .where(Webhook.project_id == project_id)
        .order_by(Webhook.created_at, Webhook.id),
        limit=limit,
        offset=offset,
    )
    return [webhook_out(row) for row in rows], total


async def deliveries(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    webhook_id: uuid.UUID,
    user: UserOut,
    limit: int,
    offset: int,
) -> tuple[list[WebhookDeliveryOut], int]:
    """The webhook's deliveries, newest first, each with its attempts."""
    await _row(session, project_id, webhook_id, user)
    rows, total = await fetch_page(
        session,
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.event_seq.desc()),
        limit=limit,
        offset=offset,
    )
    attempts = (
        await session.scalars(
            select(WebhookDeliveryAttempt)
            .where(WebhookDeliveryAttempt.delivery_id.in_([row.id for row in rows]))
            .order_by(WebhookDeliveryAttempt.attempt)
        )
    ).all()  # one query for the page, not one per delivery
    log: dict[uuid.UUID, list[DeliveryAttemptOut]] = {}
    for attempt in attempts:
        log.setdefault(attempt.delivery_id, []).append(DeliveryAttemptOut.model_validate(attempt))
    return [
        WebhookDeliveryOut(
            id=row.id,
            webhook_id=row.webhook_id,
            event=row.event,
            run_id=row.run_id,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            last_error=row.last_error,
            created_at=row.created_at,
            attempt_log=log.get(row.id, []),
        )
        for row in rows
    ], total


async def rotate_secrets(session: AsyncSession, *, box: SecretBox) -> list[str]:
    """Re-encrypt every webhook secret under ``box``'s first key (``berrys secrets rotate``);
    the webhooks' names. Raises SecretUnreadable, changing nothing, if one is under no key."""
    return await rotate_stored(
        session,
        box,
        Webhook.secret_encrypted,
        order_by=(
            Webhook.created_at,
            Webhook.id,
        ),
        label=lambda row: f"run webhook {row.id}",
    )
