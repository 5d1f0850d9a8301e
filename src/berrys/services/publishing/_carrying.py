"""Carrying publications out. A pass applies the answers to waiting approvals (approved:
PUBLISHING; rejected, expired or cancelled: REJECTED), claims the approved publications (SKIP
LOCKED and a claim time, so one process does each; a process that died leaves it to another
after the claim), and publishes each with no transaction open, as its approver: the
deliverables read again and checked against what was approved, then the target's work.
A WEBHOOK publication is PUBLISHED once its delivery is delivered (``settle``)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.config import Settings
from berrys.core.db import Database, utcnow
from berrys.services.alerts.contracts import DeliveryStatus
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionOut, InteractionStatus
from berrys.services.publishing._asking import publication_out
from berrys.services.publishing._targets import Job, PublishFailed, load_job, publish
from berrys.services.publishing.contracts import (
    PUBLICATION_LIFECYCLE,
    PublicationStatus,
    PublicationTarget,
)
from berrys.services.publishing.tables import Publication, PublicationDelivery

S = PublicationStatus
_log = structlog.get_logger("berrys.publishing")
CLAIM = timedelta(minutes=10)
MAX_PER_PASS = 10


async def move(
    session: AsyncSession,
    row: Publication,
    to: PublicationStatus,
    *,
    actor_id: uuid.UUID | None,
    **values: Any,
) -> None:
    """Move the publication along its lifecycle with ``values``, audited with its location."""
    PUBLICATION_LIFECYCLE.check(row.status, to)
    before = publication_out(row)
    row.status = to
    for name, value in values.items():
        setattr(row, name, value)
    await session.flush()
    await audit.record(
        session,
        entity_type="publication",
        entity_id=row.id,
        project_id=row.project_id,
        action=AuditAction.TRANSITION,
        actor_id=actor_id,
        before=before,
        after=publication_out(row),
    )


async def apply_answers(database: Database) -> int:
    """Publications whose approval was answered move on; how many."""
    waiting_now = Publication.status == S.PENDING_APPROVAL
    async with database.transaction(read_only=True) as session:
        query = select(Publication.id, Publication.interaction_id).where(waiting_now)
        asked = {row.id: row.interaction_id for row in await session.execute(query)}
        if not asked:
            return 0
        ids = [value for value in asked.values() if value is not None]
        answers = {
            item.id: item for item in await interactions.answered(session, interaction_ids=ids)
        }
    decided = [key for key, value in asked.items() if value is None or value in answers]
    if not decided:
        return 0
    async with database.transaction() as session:
        rows = (
            await session.scalars(
                select(Publication)
                .where(Publication.id.in_(decided), waiting_now)
                .order_by(Publication.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            await _decide(
                session, row, answers.get(row.interaction_id) if row.interaction_id else None
            )
    return len(rows)


async def _decide(session: AsyncSession, row: Publication, answer: InteractionOut | None) -> None:
    approved = (
        answer is not None
        and answer.status == InteractionStatus.RESPONDED
        and answer.detail.get("approved") is True
    )
    by = answer.responded_by if answer else None
    if approved:
        await move(session, row, S.PUBLISHING, actor_id=by, approved_by=by, claimed_until=None)
        return
    if answer is None:
        why = "its approval no longer exists"
    elif answer.status == InteractionStatus.RESPONDED:
        why = "rejected" + (f": {answer.detail['comment']}" if answer.detail.get("comment") else "")
    else:
        why = f"its approval was {answer.status.value.lower()}"
    await move(session, row, S.REJECTED, actor_id=by, result={"rejected": why})


async def claim(database: Database, now: datetime) -> list[uuid.UUID]:
    """Approved publications this process carries out (each held until ``now + CLAIM``)."""
    claimable = (
        Publication.status == S.PUBLISHING,
        or_(Publication.claimed_until.is_(None), Publication.claimed_until <= now),
        ~exists().where(PublicationDelivery.publication_id == Publication.id),
    )
    async with database.transaction(read_only=True) as session:
        if not await session.scalar(select(exists().where(*claimable))):
            return []  # no write transaction (SQLite's write lock) while nothing is due
    async with database.transaction() as session:
        ids = list(
            await session.scalars(
                select(Publication.id)
                .where(*claimable)
                .order_by(Publication.updated_at, Publication.id)
                .limit(MAX_PER_PASS)
                .with_for_update(skip_locked=True)
            )
        )
        if ids:
            await session.execute(
                update(Publication).where(Publication.id.in_(ids)).values(claimed_until=now + CLAIM)
            )
    return ids


async def carry_out(database: Database, settings: Settings, publication_id: uuid.UUID) -> None:
    """Publish one claimed publication and record how it went."""
    try:
        job = await load_job(database, publication_id)
        outcome = await publish(job, settings)
    except PublishFailed as exc:
        _log.warning("publishing.failed", publication_id=str(publication_id), error=str(exc))
        await _finish(database, publication_id, S.FAILED, error=str(exc)[:2000])
        return
    if job.target == PublicationTarget.WEBHOOK:
        await _queue_delivery(database, job, outcome.result, outcome.location)
        return
    await _finish(
        database,
        publication_id,
        S.PUBLISHED,
        result=outcome.result,
        location=outcome.location,
        published_at=utcnow(),
    )


async def _finish(
    database: Database, publication_id: uuid.UUID, to: PublicationStatus, **values: Any
) -> None:
    async with database.transaction() as session:
        row = await session.get(Publication, publication_id, with_for_update=True)
        if row is not None and row.status == S.PUBLISHING:
            await move(session, row, to, actor_id=None, claimed_until=None, **values)


async def _queue_delivery(database: Database, job: Job, payload: dict[str, Any], url: str) -> None:
    """The manifest waits in the delivery queue (once per publication: the unique key)."""
    async with database.transaction() as session:
        row = await session.get(Publication, job.publication_id, with_for_update=True)
        if row is None or row.status != S.PUBLISHING:
            return
        delivery = PublicationDelivery(
            publication_id=row.id,
            target=url,
            payload=payload,
            status=DeliveryStatus.PENDING,
            next_attempt_at=utcnow(),
        )
        session.add(delivery)
        await session.flush()
        before = publication_out(row)
        row.result = {"url": url, "delivery_id": str(delivery.id)}
        row.location = f"{url} (delivery {delivery.id})"
        row.claimed_until = None
        await session.flush()
        await audit.record(
            session,
            entity_type="publication",
            entity_id=row.id,
            project_id=row.project_id,
            action=AuditAction.UPDATE,
            actor_id=None,
            before=before,
            after=publication_out(row),
        )


async def settle(database: Database) -> int:
    """WEBHOOK publications whose delivery ended: PUBLISHED or FAILED; how many."""
    ended = (
        Publication.status == S.PUBLISHING,
        PublicationDelivery.status.in_([DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]),
    )
    joined = select(Publication, PublicationDelivery).join(
        PublicationDelivery, PublicationDelivery.publication_id == Publication.id
    )
    async with database.transaction(read_only=True) as session:
        if (await session.execute(joined.where(*ended).limit(1))).first() is None:
            return 0
    async with database.transaction() as session:
        rows = (
            await session.execute(
                joined.where(*ended).with_for_update(of=Publication, skip_locked=True)
            )
        ).all()
        for row, delivery in rows:
            if delivery.status == DeliveryStatus.DELIVERED:
                await move(
                    session, row, S.PUBLISHED, actor_id=None, published_at=delivery.delivered_at
                )
            else:
                error = f"the webhook was not delivered after {delivery.attempts} attempts: "
                await move(
                    session, row, S.FAILED, actor_id=None, error=error + str(delivery.last_error)
                )
    return len(rows)
