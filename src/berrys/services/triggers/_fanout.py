"""Run events into webhook deliveries. The run outbox is written in the transaction of each
change; a pass reads each enabled webhook's project events since its ``scanned_until`` and
queues one delivery per event it asked for (unique per webhook, run and event, so a second
pass or process adds nothing). ``scanned_until`` trails the pass by a margin: a transaction
that commits a little after its event's time is still seen."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, utcnow
from berrys.services.alerts.contracts import DeliveryStatus
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RUN_TERMINAL, RunEventType, RunStatus
from berrys.services.triggers.contracts import WebhookEvent
from berrys.services.triggers.tables import Webhook, WebhookDelivery

SCAN_MARGIN = timedelta(minutes=5)
MAX_EVENTS_PER_WEBHOOK = 500
_SOURCES = (RunEventType.RUN_STATUS, RunEventType.TASK_FAILED, RunEventType.INTERACTION_CREATED)


def webhook_event(event: dict[str, Any]) -> WebhookEvent | None:
    """What a run outbox event means to a webhook, if anything."""
    kind = RunEventType(event["type"])
    if kind == RunEventType.TASK_FAILED:
        return WebhookEvent.TASK_FAILED
    if kind == RunEventType.INTERACTION_CREATED:
        return WebhookEvent.RUN_NEEDS_PERSON
    old, new = RunStatus(event["payload"]["from"]), RunStatus(event["payload"]["to"])
    if old == RunStatus.QUEUED and new == RunStatus.RUNNING:
        return WebhookEvent.RUN_STARTED
    if new in RUN_TERMINAL and old not in RUN_TERMINAL:
        return WebhookEvent.RUN_FINISHED
    return None


async def fan_out(database: Database, *, now: datetime | None = None) -> int:
    """Queue the deliveries of every enabled webhook's new run events; how many."""
    at = now or utcnow()
    async with database.transaction(read_only=True) as session:
        if not await session.scalar(select(exists().where(Webhook.enabled.is_(True)))):
            return 0
    queued = 0
    async with database.transaction() as session:
        hooks = (
            await session.scalars(
                select(Webhook)
                .where(Webhook.enabled.is_(True))
                .order_by(Webhook.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for hook in hooks:
            queued += await _fan_out_one(session, hook, at)
    return queued


async def _queued_before(
    session: AsyncSession, hook: Webhook, keys: list[tuple[uuid.UUID, int]]
) -> set[tuple[uuid.UUID, int]]:
    if not keys:
        return set()
    rows = await session.execute(
        select(WebhookDelivery.run_id, WebhookDelivery.event_seq).where(
            WebhookDelivery.webhook_id == hook.id,
            tuple_(WebhookDelivery.run_id, WebhookDelivery.event_seq).in_(keys),
        )
    )
    return {(run_id, seq) for run_id, seq in rows}


async def _fan_out_one(session: AsyncSession, hook: Webhook, now: datetime) -> int:
    events = await runs.project_events(
        session,
        project_id=hook.project_id,
        since=hook.scanned_until,
        types=_SOURCES,
        limit=MAX_EVENTS_PER_WEBHOOK,
    )
    keys = [(uuid.UUID(event["run_id"]), int(event["seq"])) for event in events]
    queued_before = await _queued_before(session, hook, keys)
    queued = 0
    for event, key in zip(events, keys, strict=True):
        meaning = webhook_event(event)
        if key in queued_before or meaning is None or meaning.value not in hook.events:
            continue
        session.add(_delivery(hook, event, meaning, now))
        queued += 1
    if len(events) < MAX_EVENTS_PER_WEBHOOK:
        hook.scanned_until = max(hook.scanned_until, now - SCAN_MARGIN)
    else:  # a full page: the next pass reads on from its last event
        hook.scanned_until = datetime.fromisoformat(events[-1]["created_at"])
    return queued


def _delivery(
    hook: Webhook, event: dict[str, Any], meaning: WebhookEvent, now: datetime
) -> WebhookDelivery:
    return WebhookDelivery(
        webhook_id=hook.id,
        run_id=uuid.UUID(event["run_id"]),
        event_seq=event["seq"],
        event=meaning,
        target=hook.url,
        payload={
            "event": meaning.value,
            "project_id": str(hook.project_id),
            "run_id": event["run_id"],
            "task_run_id": event["task_run_id"],
            "at": event["created_at"],
            "details": event["payload"],
        },
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
    )
