"""Reading alert episodes and their notifications, acknowledging one, and counting what
fires (the dashboard's badge, the Prometheus gauge)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page, utcnow
from berrys.core.errors import Conflict, NotFound
from berrys.services.alerts._rules import check_scope, visible_filter
from berrys.services.alerts.contracts import (
    AlertDeliveryOut,
    AlertEpisodeOut,
    AlertKind,
    DeliveryAttemptOut,
    EpisodeStatus,
)
from berrys.services.alerts.tables import (
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertEpisode,
    AlertRule,
)
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut

_EPISODES = select(AlertEpisode, AlertRule.name).join(
    AlertRule, AlertRule.id == AlertEpisode.rule_id
)


def episode_out(row: AlertEpisode, rule_name: str) -> AlertEpisodeOut:
    return AlertEpisodeOut(
        id=row.id,
        rule_id=row.rule_id,
        rule_name=rule_name,
        project_id=row.project_id,
        kind=row.kind,
        status=row.status,
        summary=row.summary,
        details=row.details,
        opened_at=row.opened_at,
        resolved_at=row.resolved_at,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
    )


async def get_all(
    session: AsyncSession,
    *,
    user: UserOut,
    limit: int,
    offset: int,
    status: EpisodeStatus | None = None,
    rule_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
) -> tuple[list[AlertEpisodeOut], int]:
    """Episodes the user may see, the latest opened first."""
    conditions = await visible_filter(session, user=user, project_column=AlertEpisode.project_id)
    if status is not None:
        conditions.append(AlertEpisode.status == status)
    if rule_id is not None:
        conditions.append(AlertEpisode.rule_id == rule_id)
    if project_id is not None:
        conditions.append(AlertEpisode.project_id == project_id)
    ids, total = await fetch_page(
        session,
        select(AlertEpisode.id)
        .where(*conditions)
        .order_by(AlertEpisode.opened_at.desc(), AlertEpisode.id),
        limit=limit,
        offset=offset,
    )
    if not ids:
        return [], total
    rows = {
        row.id: (row, name)
        for row, name in await session.execute(_EPISODES.where(AlertEpisode.id.in_(ids)))
    }
    return [episode_out(*rows[episode_id]) for episode_id in ids], total


async def _visible(
    session: AsyncSession, episode_id: uuid.UUID, user: UserOut
) -> tuple[AlertEpisode, str]:
    found = (await session.execute(_EPISODES.where(AlertEpisode.id == episode_id))).first()
    if found is None:
        raise NotFound.of("Alert episode", episode_id)
    try:
        await check_scope(session, project_id=found[0].project_id, user=user)
    except NotFound:
        raise NotFound.of("Alert episode", episode_id) from None
    return found[0], found[1]


async def get(session: AsyncSession, *, episode_id: uuid.UUID, user: UserOut) -> AlertEpisodeOut:
    return episode_out(*await _visible(session, episode_id, user))


async def acknowledge(
    session: AsyncSession, *, episode_id: uuid.UUID, user: UserOut
) -> AlertEpisodeOut:
    """Say someone looks into a firing episode; it still resolves by itself."""
    row, name = await _visible(session, episode_id, user)
    if row.status != EpisodeStatus.FIRING:
        raise Conflict("Only a FIRING episode is acknowledged; this one has resolved")
    if row.acknowledged_at is not None:
        raise Conflict("This episode is already acknowledged")
    before = episode_out(row, name)
    row.acknowledged_by, row.acknowledged_at = user.id, utcnow()
    after = episode_out(row, name)
    await audit.record(
        session,
        entity_type="alert_episode",
        entity_id=row.id,
        project_id=row.project_id,
        action=AuditAction.UPDATE,
        actor_id=user.id,
        before=before,
        after=after,
    )
    return after


async def deliveries(
    session: AsyncSession, *, episode_id: uuid.UUID, user: UserOut
) -> list[AlertDeliveryOut]:
    """The notifications of an episode, each with every attempt to deliver it."""
    await _visible(session, episode_id, user)
    rows = list(
        await session.scalars(
            select(AlertDelivery)
            .where(AlertDelivery.episode_id == episode_id)
            .order_by(AlertDelivery.created_at, AlertDelivery.id)
        )
    )
    attempts: dict[uuid.UUID, list[DeliveryAttemptOut]] = defaultdict(list)
    for attempt in await session.scalars(
        select(AlertDeliveryAttempt)
        .where(AlertDeliveryAttempt.delivery_id.in_([row.id for row in rows]))
        .order_by(AlertDeliveryAttempt.attempt)
    ):
        attempts[attempt.delivery_id].append(DeliveryAttemptOut.model_validate(attempt))
    return [
        AlertDeliveryOut(
            id=row.id,
            episode_id=row.episode_id,
            channel=row.channel,
            event=row.event,
            target=row.target,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            last_error=row.last_error,
            attempt_log=attempts[row.id],
        )
        for row in rows
    ]


async def firing_count(session: AsyncSession, *, user: UserOut) -> int:
    """Firing episodes the user may see (the dashboard's badge)."""
    conditions = await visible_filter(session, user=user, project_column=AlertEpisode.project_id)
    count = await session.scalar(
        select(func.count())
        .select_from(AlertEpisode)
        .where(AlertEpisode.status == EpisodeStatus.FIRING, *conditions)
    )
    return int(count or 0)


async def firing_by_kind(session: AsyncSession) -> dict[AlertKind, int]:
    """Firing episodes of every rule, by kind (the Prometheus gauge)."""
    rows = await session.execute(
        select(AlertEpisode.kind, func.count())
        .where(AlertEpisode.status == EpisodeStatus.FIRING)
        .group_by(AlertEpisode.kind)
    )
    counts = dict.fromkeys(AlertKind, 0)
    counts.update({kind: count for kind, count in rows})
    return counts
