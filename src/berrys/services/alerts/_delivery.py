"""Delivering queued notifications: a webhook POST signed with HMAC-SHA256, or an email
through the configured SMTP server. Each delivery is claimed (SKIP LOCKED and a claim time)
so one process sends it, sent with no transaction open, and every attempt is recorded; a
failed one is retried with exponential backoff up to the configured number of attempts.
A ``DeliveryQueue`` names the tables: alerts' own, or another service's run webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import ColumnElement, FromClause, Table, exists, insert, literal, select, update

from berrys.config import Settings
from berrys.core.db import Database, utcnow
from berrys.core.encryption import SecretBox, SecretUnreadable
from berrys.core.errors import BerrysError
from berrys.services.alerts.contracts import DeliveryChannel, DeliveryStatus
from berrys.services.alerts.tables import (
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertEpisode,
    AlertRule,
)
from berrys.services.tools import service as tools

MAX_DELIVERIES_PER_PASS = 50
MAX_BACKOFF_SECONDS = 3600.0
SIGNATURE_HEADER = "X-Berrys-Signature"
TIMESTAMP_HEADER = "X-Berrys-Timestamp"


@dataclass(frozen=True, slots=True)
class DeliveryQueue:
    """Where one kind of notification waits: a deliveries table with ``alert_delivery``'s
    columns (``channel`` may be a constant instead), an attempts table with
    ``alert_delivery_attempt``'s, and the join that reaches each delivery's signing secret."""

    deliveries: Table
    attempts: Table
    source: FromClause
    secret: ColumnElement[str | None]
    # A column of the deliveries table, or ``webhook_channel()``.
    channel: ColumnElement[Any]
    user_agent: str
    # False: a webhook without a secret is sent unsigned (its receiver chose so).
    signature_required: bool = True


ALERT_DELIVERIES = DeliveryQueue(
    deliveries=AlertDelivery.__table__,
    attempts=AlertDeliveryAttempt.__table__,
    source=AlertDelivery.__table__.join(
        AlertEpisode, AlertEpisode.id == AlertDelivery.episode_id
    ).join(AlertRule, AlertRule.id == AlertEpisode.rule_id),
    secret=AlertRule.__table__.c.webhook_secret_encrypted,
    channel=AlertDelivery.__table__.c.channel,
    user_agent="berrys-alerts",
)


def webhook_channel() -> ColumnElement[Any]:
    """The ``channel`` of a queue whose every delivery is a webhook."""
    return literal(DeliveryChannel.WEBHOOK.value)


@dataclass(slots=True)
class _Claimed:
    id: uuid.UUID
    channel: DeliveryChannel
    target: str
    payload: dict[str, Any]
    attempt: int
    secret_encrypted: str | None


@dataclass(slots=True)
class _Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>." + body`` (what a receiver checks)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


async def deliver_due(
    database: Database,
    box: SecretBox,
    settings: Settings,
    *,
    queue: DeliveryQueue = ALERT_DELIVERIES,
    now: datetime | None = None,
) -> int:
    """Send every notification of ``queue`` due now; how many were attempted."""
    at = now or utcnow()
    claimed = await _claim(database, queue, at, settings)
    if claimed:
        outcomes = await asyncio.gather(
            *(_send(item, queue, box, settings, at) for item in claimed)
        )
        for item, (outcome, duration_ms) in zip(claimed, outcomes, strict=True):
            await _record(database, queue, item, outcome, duration_ms, at, settings)
    return len(claimed)


async def _claim(
    database: Database, queue: DeliveryQueue, now: datetime, settings: Settings
) -> list[_Claimed]:
    # Claimed for longer than a send can take: a process that dies mid-send leaves the
    # delivery to be retried after that, by any process.
    claim_until = now + timedelta(seconds=2 * settings.alerts_webhook_timeout_seconds + 60)
    table = queue.deliveries
    due = (table.c.status == DeliveryStatus.PENDING, table.c.next_attempt_at <= now)
    async with database.transaction(read_only=True) as session:
        if not await session.scalar(select(exists().where(*due))):
            return []  # no write transaction (SQLite's write lock) while nothing is due
    async with database.transaction() as session:
        rows = (
            await session.execute(
                select(
                    table.c.id,
                    queue.channel.label("channel"),
                    table.c.target,
                    table.c.payload,
                    table.c.attempts,
                    queue.secret.label("secret"),
                )
                .select_from(queue.source)
                .where(*due)
                .order_by(table.c.next_attempt_at, table.c.id)
                .limit(MAX_DELIVERIES_PER_PASS)
                .with_for_update(of=table, skip_locked=True)
            )
        ).all()
        if rows:
            await session.execute(
                update(table)
                .where(table.c.id.in_([row.id for row in rows]))
                .values(next_attempt_at=claim_until)
            )
        return [
            _Claimed(
                row.id,
                DeliveryChannel(row.channel),
                row.target,
                row.payload,
                row.attempts + 1,
                row.secret,
            )
            for row in rows
        ]


async def _send(
    item: _Claimed, queue: DeliveryQueue, box: SecretBox, settings: Settings, now: datetime
) -> tuple[_Outcome, float]:
    started = time.perf_counter()
    try:
        if item.channel == DeliveryChannel.WEBHOOK:
            outcome = await _post(item, queue, box, settings, now)
        else:
            outcome = await asyncio.to_thread(_mail, item, settings)
    except (httpx.HTTPError, OSError, smtplib.SMTPException, SecretUnreadable) as exc:
        outcome = _Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:2000])
    except BerrysError as exc:  # the egress policy refused the address
        outcome = _Outcome(ok=False, error=exc.detail[:2000])
    return outcome, (time.perf_counter() - started) * 1000


async def _post(
    item: _Claimed, queue: DeliveryQueue, box: SecretBox, settings: Settings, now: datetime
) -> _Outcome:
    if item.secret_encrypted is None and queue.signature_required:
        return _Outcome(ok=False, error="the rule has no webhook secret to sign with")
    body = json.dumps(item.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": queue.user_agent,
        "X-Berrys-Event": str(item.payload.get("event", "")),
        "X-Berrys-Delivery": str(item.id),
        TIMESTAMP_HEADER: timestamp,
    }
    if item.secret_encrypted is not None:
        headers[SIGNATURE_HEADER] = sign(box.decrypt(item.secret_encrypted), timestamp, body)
    # Through the tools' egress: the address checked is the one connected to, and link-local
    # and cloud-metadata addresses are never reached; a webhook's own host, private or
    # loopback (an intranet), is allowed.
    policy = settings.model_copy(
        update={
            "tools_fetch_allowed_hosts": [httpx.URL(item.target).host],
            "tools_fetch_allow_private": True,
        }
    )
    async with tools.egress_request(
        "POST",
        item.target,
        settings=policy,
        timeouts=settings.alerts_webhook_timeout_seconds,
        content=body,
        headers=headers,
    ) as (response, _):
        pass
    if response.is_success:
        return _Outcome(ok=True, status_code=response.status_code)
    return _Outcome(
        ok=False, status_code=response.status_code, error=f"HTTP {response.status_code}"
    )


def _mail(item: _Claimed, settings: Settings) -> _Outcome:
    """One email to every recipient (run in a thread: smtplib blocks)."""
    if not settings.smtp_host or not settings.smtp_from:
        return _Outcome(ok=False, error="SMTP is not configured (BERRYS_SMTP_HOST, _FROM)")
    episode = item.payload["episode"]
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = item.target
    message["Subject"] = f"[Berrys] {item.payload['event']}: {item.payload['rule']['name']}"
    message.set_content(
        f"{episode['summary']}\n\nRule: {item.payload['rule']['name']} "
        f"({item.payload['rule']['kind']})\nOpened: {episode['opened_at']}\n"
        f"Resolved: {episode['resolved_at'] or '-'}\n\n"
        + json.dumps(episode["details"], indent=2, sort_keys=True)
    )
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.alerts_webhook_timeout_seconds
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
    return _Outcome(ok=True)


def _backoff(attempt: int, settings: Settings) -> timedelta:
    seconds = settings.alerts_retry_base_seconds * 2 ** (attempt - 1)
    return timedelta(seconds=min(seconds, MAX_BACKOFF_SECONDS))


async def _record(
    database: Database,
    queue: DeliveryQueue,
    item: _Claimed,
    outcome: _Outcome,
    duration_ms: float,
    now: datetime,
    settings: Settings,
) -> None:
    async with database.transaction() as session:
        await session.execute(
            insert(queue.attempts).values(
                id=uuid.uuid4(),
                delivery_id=item.id,
                attempt=item.attempt,
                at=now,
                ok=outcome.ok,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=duration_ms,
            )
        )
        await session.execute(
            update(queue.deliveries)
            .where(queue.deliveries.c.id == item.id)
            .values(
                attempts=item.attempt,
                last_error=outcome.error,
                **_next(item, outcome, now, settings),
            )
        )


def _next(item: _Claimed, outcome: _Outcome, now: datetime, settings: Settings) -> dict[str, Any]:
    if outcome.ok:
        return {"status": DeliveryStatus.DELIVERED, "delivered_at": now, "next_attempt_at": None}
    if item.attempt >= settings.alerts_delivery_max_attempts:
        return {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
    return {"next_attempt_at": now + _backoff(item.attempt, settings)}
