"""Notifications of alert episodes: a signed webhook to a real HTTP server on loopback,
retried with backoff after a 500 with each attempt recorded, and an email through a real SMTP
server on loopback."""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from tests.e2e.processes import free_port
from tests.services.alerts.conftest import EPISODES, Clock, add_rule, episodes_of, unattended_run

from berrys.config import Settings
from berrys.core.encryption import SecretBox, SecretUnreadable
from berrys.services.alerts import service as alerts
from berrys.services.alerts.tables import AlertRule
from berrys.wiring import Services

SECRET = "a-webhook-secret-of-ours"
STALLED = {"kind": "RUN_STALLED", "idle_minutes": 5}


class _Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def mailbox(services_settings: Settings) -> Iterator[_Mailbox]:
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=services_settings.smtp_port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def services_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": free_port(),
            "smtp_from": "berrys@example.com",
        }
    )


async def test_webhook_is_signed_and_retried_after_a_500(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    project_id: str,
    clock: Clock,
    receiver: Any,
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    rule = await add_rule(
        client, member, STALLED, project_id=project_id, webhook_url=url, webhook_secret=SECRET
    )
    assert rule["webhook_secret_set"] is True
    assert "webhook_secret" not in rule
    await unattended_run(services.database, project_id)
    fired_at = await clock.evaluate(after=timedelta(minutes=6))
    deliver = alerts.deliver_due
    box, settings = services.models.secrets, services.settings

    assert await deliver(services.database, box, settings, now=fired_at) == 1  # answered 500
    assert await deliver(services.database, box, settings, now=fired_at) == 0  # backing off
    retry_at = fired_at + timedelta(seconds=settings.alerts_retry_base_seconds)
    assert await deliver(services.database, box, settings, now=retry_at) == 1

    assert len(receiver.received) == 2
    for headers, body in receiver.received:
        timestamp = headers[alerts.TIMESTAMP_HEADER]
        expected = alerts.sign(SECRET, timestamp, body)
        assert hmac.compare_digest(headers[alerts.SIGNATURE_HEADER], expected)
    payload = json.loads(receiver.received[1][1])
    assert payload["event"] == "FIRED"
    assert payload["rule"]["id"] == rule["id"]
    assert payload["episode"]["status"] == "FIRING"

    [episode] = await episodes_of(client, member, rule)
    response = await client.get(f"{EPISODES}/{episode['id']}/deliveries", headers=member.headers)
    [delivery] = response.json()
    assert (delivery["channel"], delivery["status"], delivery["attempts"]) == (
        "WEBHOOK",
        "DELIVERED",
        2,
    )
    assert [(a["ok"], a["status_code"]) for a in delivery["attempt_log"]] == [
        (False, 500),
        (True, 200),
    ]


async def test_a_webhook_that_keeps_failing_gives_up_after_the_last_attempt(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    project_id: str,
    clock: Clock,
    receiver: Any,
) -> None:
    settings = services.settings.model_copy(update={"alerts_delivery_max_attempts": 2})
    receiver.statuses = [503, 503, 503]
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    rule = await add_rule(
        client, member, STALLED, project_id=project_id, webhook_url=url, webhook_secret=SECRET
    )
    await unattended_run(services.database, project_id)
    at = await clock.evaluate(after=timedelta(minutes=6))
    for _ in range(3):
        await alerts.deliver_due(services.database, services.models.secrets, settings, now=at)
        at += timedelta(hours=1)
    [episode] = await episodes_of(client, member, rule)
    response = await client.get(f"{EPISODES}/{episode['id']}/deliveries", headers=member.headers)
    [delivery] = response.json()
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
        "FAILED",
        2,
        "HTTP 503",
    )
    assert len(receiver.received) == 2


async def test_email_goes_through_the_smtp_server_on_firing_and_resolution(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    project_id: str,
    clock: Clock,
    mailbox: _Mailbox,
) -> None:
    rule = await add_rule(
        client, member, STALLED, project_id=project_id, email_to=["Ops@Example.com"]
    )
    run = await unattended_run(services.database, project_id)
    at = await clock.evaluate(after=timedelta(minutes=6))
    box = services.models.secrets
    assert await alerts.deliver_due(services.database, box, services.settings, now=at) == 1
    cancelled = await client.post(f"/api/v1/runs/{run.id}/cancel", headers=member.headers)
    assert cancelled.status_code == 200
    at = await clock.evaluate()
    assert await alerts.deliver_due(services.database, box, services.settings, now=at) == 1

    fired, resolved = mailbox.envelopes
    assert fired.mail_from == "berrys@example.com"
    assert fired.rcpt_tos == ["ops@example.com"]
    text = fired.content.decode()
    assert f"Subject: [Berrys] FIRED: {rule['name']}" in text
    assert "run(s) without progress for 5 min" in text
    assert f"Subject: [Berrys] RESOLVED: {rule['name']}" in resolved.content.decode()


async def test_rotating_the_secret_key_re_encrypts_webhook_secrets(
    client: httpx.AsyncClient, services: Services, member: Any, project_id: str
) -> None:
    rule = await add_rule(
        client,
        member,
        STALLED,
        project_id=project_id,
        webhook_url="https://hooks.example.com/x",
        webhook_secret=SECRET,
    )
    current = services.settings.resolved_secret_key
    new_box = SecretBox("a-brand-new-secret-key-0001", [current])
    async with services.database.transaction() as session:
        assert await alerts.rotate_secrets(session, box=new_box) == [f"alert rule {rule['name']}"]
    async with services.database.transaction(read_only=True) as session:
        stored = await session.scalar(
            select(AlertRule.webhook_secret_encrypted).where(AlertRule.id == uuid.UUID(rule["id"]))
        )
    assert SecretBox("a-brand-new-secret-key-0001").decrypt(stored) == SECRET
    with pytest.raises(SecretUnreadable):
        SecretBox(current).decrypt(stored)


async def test_a_webhook_never_reaches_cloud_metadata(
    client: httpx.AsyncClient, services: Services, member: Any, project_id: str, clock: Clock
) -> None:
    rule = await add_rule(
        client,
        member,
        STALLED,
        project_id=project_id,
        webhook_url="http://169.254.169.254/latest/meta-data",
        webhook_secret=SECRET,
    )
    await unattended_run(services.database, project_id)
    at = await clock.evaluate(after=timedelta(minutes=6))
    await alerts.deliver_due(services.database, services.models.secrets, services.settings, now=at)
    [episode] = await episodes_of(client, member, rule)
    response = await client.get(f"{EPISODES}/{episode['id']}/deliveries", headers=member.headers)
    [delivery] = response.json()
    [attempt] = delivery["attempt_log"]
    assert (attempt["ok"], attempt["status_code"]) == (False, None)
    assert "cloud metadata" in attempt["error"]
    assert delivery["status"] == "PENDING"  # retried later, refused the same way
