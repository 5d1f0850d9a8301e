"""Run webhooks: a run that ends with a failed task is told to a real HTTP server on
loopback, signed with HMAC-SHA256, retried after a 500 with every attempt visible over REST;
events nobody asked for are not sent; nobody else reaches a project's webhooks."""

from __future__ import annotations

import asyncio
import hmac
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from tests.services.alerts.conftest import ProjectRef
from tests.services.runs.conftest import FAST, create_run, tasks, wait_for_status, wait_until
from tests.services.runs.scripted import ScriptedExecutor
from tests.services.triggers.conftest import add

from berrys.core.db import Database, utcnow
from berrys.core.encryption import SecretBox
from berrys.services.alerts import service as alerts
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus
from berrys.services.triggers import service as triggers
from berrys.services.triggers.tables import Webhook
from berrys.wiring import Services

SECRET = "a-webhook-secret-of-ours"


async def _run_with_a_failing_task(database: Database, project_id: str) -> uuid.UUID:
    """A real worker runs a task that fails for good: the run ends FAILED."""
    run = await create_run(
        database, ProjectRef(uuid.UUID(project_id)), tasks("a", a={"permanent": True})
    )
    worker = runs.Worker(database, ScriptedExecutor(), hooks=runs.HOOKS, config=FAST)
    running = asyncio.create_task(worker.run())
    try:
        await wait_for_status(database, run.id, RunStatus.FAILED)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 10)
    return run.id


async def test_a_finished_run_is_delivered_signed_and_retried_after_a_500(
    client: httpx.AsyncClient, services: Services, member: Any, project_id: str, receiver: Any
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/berrys"
    hook = await add(
        client, member, project_id, "webhooks", url=url, events=["RUN_FINISHED"], secret=SECRET
    )
    assert hook["secret_set"] is True
    assert "secret" not in hook
    run_id = await _run_with_a_failing_task(services.database, project_id)
    now = utcnow()
    box, settings, queue = services.models.secrets, services.settings, triggers.WEBHOOK_DELIVERIES

    assert await triggers.fan_out(services.database, now=now) == 1  # not RUN_STARTED, not TASK_
    assert await triggers.fan_out(services.database, now=now) == 0  # queued once
    deliver = alerts.deliver_due
    assert await deliver(services.database, box, settings, queue=queue, now=now) == 1  # a 500
    assert await deliver(services.database, box, settings, queue=queue, now=now) == 0  # backoff
    retry_at = now + timedelta(seconds=settings.alerts_retry_base_seconds)
    assert await deliver(services.database, box, settings, queue=queue, now=retry_at) == 1

    assert len(receiver.received) == 2
    for headers, body in receiver.received:
        expected = alerts.sign(SECRET, headers[alerts.TIMESTAMP_HEADER], body)
        assert hmac.compare_digest(headers[alerts.SIGNATURE_HEADER], expected)
    payload = json.loads(receiver.received[1][1])
    assert payload["event"] == "RUN_FINISHED"
    assert payload["run_id"] == str(run_id)
    assert payload["details"]["to"] == "FAILED"
    response = await client.get(
        f"/api/v1/projects/{project_id}/webhooks/{hook['id']}/deliveries", headers=member.headers
    )
    assert response.status_code == 200, response.text
    (delivery,) = response.json()["items"]
    assert delivery["status"] == "DELIVERED"
    assert delivery["attempts"] == 2
    assert delivery["next_attempt_at"] is None
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]


async def test_each_chosen_event_is_delivered_unsigned_without_a_secret(
    client: httpx.AsyncClient, services: Services, member: Any, project_id: str, receiver: Any
) -> None:
    receiver.statuses = []
    url = f"http://127.0.0.1:{receiver.server_address[1]}/berrys"
    events = ["RUN_STARTED", "RUN_FINISHED", "TASK_FAILED"]
    await add(client, member, project_id, "webhooks", url=url, events=events)
    await _run_with_a_failing_task(services.database, project_id)
    now = utcnow()

    assert await triggers.fan_out(services.database, now=now) == 3
    queue = triggers.WEBHOOK_DELIVERIES
    await alerts.deliver_due(
        services.database, services.models.secrets, services.settings, queue=queue, now=now
    )

    sent = sorted(json.loads(body)["event"] for _, body in receiver.received)
    assert sent == sorted(events)
    assert all(alerts.SIGNATURE_HEADER not in headers for headers, _ in receiver.received)


async def test_the_process_loop_delivers_a_question_for_a_person(
    client: httpx.AsyncClient, services: Services, member: Any, project_id: str, receiver: Any
) -> None:
    """The loop a server or worker owns (``Services.trigger_loop``) queues and sends."""
    receiver.statuses = []
    url = f"http://127.0.0.1:{receiver.server_address[1]}/berrys"
    await add(client, member, project_id, "webhooks", url=url, events=["RUN_NEEDS_PERSON"])
    gated = await client.post(
        f"/api/v1/projects/{project_id}/runs",
        json={"require_plan_approval": True},
        headers=member.headers,
    )
    assert gated.status_code == 202, gated.text
    loop = services.trigger_loop()
    assert loop is not None
    loop.start()
    try:
        await wait_until(lambda: receiver.received, message="the webhook's delivery")
    finally:
        await loop.stop()
    (payload,) = [json.loads(body) for _, body in receiver.received]
    assert payload["event"] == "RUN_NEEDS_PERSON"
    assert payload["run_id"] == gated.json()["id"]


async def test_webhooks_are_their_projects(
    client: httpx.AsyncClient, member: Any, other_member: Any, project_id: str
) -> None:
    hook = await add(
        client, member, project_id, "webhooks", url="https://example.com/h", events=["TASK_FAILED"]
    )
    path = f"/api/v1/projects/{project_id}/webhooks/{hook['id']}"
    for response in (
        await client.get(path, headers=other_member.headers),
        await client.get(f"{path}/deliveries", headers=other_member.headers),
        await client.delete(path, headers=other_member.headers),
        await client.post(
            f"/api/v1/projects/{project_id}/webhooks",
            json={"url": "https://example.com/x", "events": ["RUN_STARTED"]},
            headers=other_member.headers,
        ),
    ):
        assert response.status_code == 404, response.text
    bad = await client.post(
        f"/api/v1/projects/{project_id}/webhooks",
        json={"url": "ftp://example.com", "events": ["RUN_STARTED"]},
        headers=member.headers,
    )
    assert bad.status_code == 422
    changed = await client.patch(
        path, json={"events": ["RUN_NEEDS_PERSON"]}, headers=member.headers
    )
    assert changed.json()["events"] == ["RUN_NEEDS_PERSON"]
    assert (await client.delete(path, headers=member.headers)).status_code == 204


async def test_webhook_secrets_are_re_encrypted_under_a_new_key(
    client: httpx.AsyncClient, services: Services, member: Any, project_id: str
) -> None:
    hook = await add(
        client,
        member,
        project_id,
        "webhooks",
        url="https://example.com/h",
        events=["RUN_FINISHED"],
        secret=SECRET,
    )
    current = services.settings.resolved_secret_key
    new_box = SecretBox("a-brand-new-secret-key-0001", [current])
    async with services.database.transaction() as session:
        names = await triggers.webhooks.rotate_secrets(session, box=new_box)
    assert names == [f"run webhook {hook['id']}"]
    async with services.database.transaction(read_only=True) as session:
        stored = await session.scalar(
            select(Webhook.secret_encrypted).where(Webhook.id == uuid.UUID(hook["id"]))
        )
    assert SecretBox("a-brand-new-secret-key-0001").decrypt(stored) == SECRET
