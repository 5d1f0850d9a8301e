"""Human interactions over REST and the service: each type's answer, 409 after an answer,
404 across owners, expiry with escalation, and the tool-approval hook outside a run."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from tests.services.runs.conftest import wait_until

from berrys.core.db import utcnow
from berrys.core.enums import Priority
from berrys.core.errors import Conflict
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import (
    EscalationRule,
    HumanInteractionType,
    InteractionResponse,
    InteractionStatus,
)
from berrys.services.runs.engine.state import lock_run


@pytest.fixture
async def project(client, member) -> dict:
    response = await client.post("/api/v1/projects", json={"name": "hitl"}, headers=member.headers)
    return response.json()


async def _make(database, project, type_, **details):
    async with database.transaction() as session:
        return await interactions.create(
            session,
            type=type_,
            project_id=uuid.UUID(project["id"]),
            title=f"a {type_.value.lower()}",
            details=details,
            expires_at=details.pop("expires_at", None),
            escalation=details.pop("escalation", EscalationRule.REJECT),
            priority=details.pop("priority", Priority.MEDIUM),
        )


@pytest.mark.parametrize(
    ("type_", "details", "answer", "bad", "stored"),
    [
        (
            HumanInteractionType.APPROVAL,
            {"subject": "PLAN"},
            {"approved": True, "comment": "ok"},
            {"answer": "yes"},
            {"approved": True, "comment": "ok"},
        ),
        (
            HumanInteractionType.CLARIFICATION,
            {"question": "Which colour?"},
            {"answer": "Blue"},
            {"approved": True},
            {"answer": "Blue", "question": "Which colour?"},
        ),
        (
            HumanInteractionType.FEEDBACK,
            {"subject": "draft"},
            {"feedback": "shorter"},
            {"answer": "x"},
            {"feedback": "shorter"},
        ),
        (
            HumanInteractionType.NOTIFICATION,
            {"message": "FYI", "level": "WARNING"},
            {"acknowledged": True},
            {"acknowledged": False},
            {"acknowledged": True, "level": "WARNING"},
        ),
    ],
)
async def test_each_type_is_answered_its_own_way(
    client, database, member, other_member, project, type_, details, answer, bad, stored
):
    made = await _make(database, project, type_, **details)
    url = f"/api/v1/interactions/{made.id}"
    assert (await client.get(url, headers=other_member.headers)).status_code == 404
    assert (
        await client.post(f"{url}/respond", json=answer, headers=other_member.headers)
    ).status_code == 404
    listed = await client.get(
        "/api/v1/interactions",
        params={"status": "PENDING", "type": type_.value},
        headers=member.headers,
    )
    assert [item["id"] for item in listed.json()["items"]] == [str(made.id)]
    assert (await client.get("/api/v1/interactions", headers=other_member.headers)).json()[
        "total"
    ] == 0
    assert (
        await client.post(f"{url}/respond", json=bad, headers=member.headers)
    ).status_code == 422
    answered = await client.post(f"{url}/respond", json=answer, headers=member.headers)
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["status"] == "RESPONDED"
    assert body["responded_by"] == str(member.id)
    for key, value in stored.items():
        assert body["detail"][key] == value
    again = await client.post(f"{url}/respond", json=answer, headers=member.headers)
    assert again.status_code == 409
    audit = await client.get(
        "/api/v1/audit", params={"entity_id": str(made.id)}, headers=member.headers
    )
    assert {entry["action"] for entry in audit.json()["items"]} == {"CREATE", "RESPOND"}


async def test_viewers_cannot_answer(client, database, viewer, project):
    made = await _make(database, project, HumanInteractionType.APPROVAL, subject="PLAN")
    response = await client.post(
        f"/api/v1/interactions/{made.id}/respond", json={"approved": True}, headers=viewer.headers
    )
    assert response.status_code == 403


async def test_expiry_rejects_approves_or_escalates(database, project):
    past = utcnow() - timedelta(seconds=1)
    rejected = await _make(
        database, project, HumanInteractionType.APPROVAL, subject="PLAN", expires_at=past
    )
    approved = await _make(
        database,
        project,
        HumanInteractionType.APPROVAL,
        subject="PLAN",
        expires_at=past,
        escalation=EscalationRule.APPROVE,
    )
    escalated = await _make(
        database,
        project,
        HumanInteractionType.CLARIFICATION,
        question="?",
        expires_at=past,
        escalation=EscalationRule.ESCALATE,
        priority=Priority.LOW,
    )
    async with database.transaction() as session:
        closed = await interactions.expire_due(session)
    assert {item.id for item in closed} == {rejected.id, approved.id}
    async with database.transaction(read_only=True) as session:
        r = await interactions.get(session, interaction_id=rejected.id)
        a = await interactions.get(session, interaction_id=approved.id)
        e = await interactions.get(session, interaction_id=escalated.id)
    assert (r.status, r.detail["approved"]) == (InteractionStatus.EXPIRED, False)
    assert (a.status, a.detail["approved"]) == (InteractionStatus.EXPIRED, True)
    assert (e.status, e.priority, e.escalations) == (InteractionStatus.PENDING, Priority.MEDIUM, 1)
    assert e.expires_at > utcnow()
    # Escalated twice more, then it is rejected like the rest.
    for days in (1, 2):
        async with database.transaction() as session:
            await interactions.expire_due(session, now=utcnow() + timedelta(days=days))
    async with database.transaction(read_only=True) as session:
        e = await interactions.get(session, interaction_id=escalated.id)
    assert e.status == InteractionStatus.EXPIRED
    assert e.priority == Priority.HIGH  # raised twice: LOW -> MEDIUM -> HIGH
    async with database.transaction() as session:
        with pytest.raises(Conflict):
            await interactions.respond(
                session,
                interaction_id=escalated.id,
                response=InteractionResponse(answer="late"),
                actor_id=None,
            )


async def test_tool_hook_outside_a_run_asks_once_then_lets_that_call_through(
    client, services, member, project
):
    from berrys.services.tools import _invocation

    request = _invocation.ApprovalRequest(
        tool_id=uuid.uuid4(),
        tool_name="deploy",
        arguments={"to": "prod"},
        arguments_hash=_invocation.arguments_hash({"to": "prod"}),
        idempotent=False,
        user_id=member.id,
        project_id=uuid.UUID(project["id"]),
        agent_id=None,
    )
    with pytest.raises(_invocation.ApprovalRequired) as first:
        await services.tools.approve(request)
    interaction_id = first.value.extra["interaction_id"]
    with pytest.raises(_invocation.ApprovalRequired) as again:
        await services.tools.approve(request)  # still pending: the same interaction
    assert again.value.extra["interaction_id"] == interaction_id
    answered = await client.post(
        f"/api/v1/interactions/{interaction_id}/respond",
        json={"approved": True},
        headers=member.headers,
    )
    assert answered.status_code == 200
    await services.tools.approve(request)  # approved: runs once
    with pytest.raises(_invocation.ApprovalRequired):
        await services.tools.approve(request)  # a new call asks again


async def _run_waiting_for_plan_approval(client, member) -> tuple[str, str]:
    project = (
        await client.post("/api/v1/projects", json={"name": "lock order"}, headers=member.headers)
    ).json()
    plan = await client.post(
        f"/api/v1/projects/{project['id']}/plans",
        json={"generate": False, "name": "p"},
        headers=member.headers,
    )
    await client.post(
        f"/api/v1/plans/{plan.json()['id']}/tasks",
        json={"name": "write", "estimate_hours": 1},
        headers=member.headers,
    )
    run = await client.post(
        f"/api/v1/projects/{project['id']}/runs",
        json={"require_plan_approval": True},
        headers=member.headers,
    )
    assert run.json()["status"] == "AWAITING_INPUT", run.text
    pending = await client.get(
        "/api/v1/interactions",
        params={"status": "PENDING", "project_id": project["id"]},
        headers=member.headers,
    )
    return run.json()["id"], pending.json()["items"][0]["id"]


async def _someone_waits_for_a_lock(database) -> bool:
    async with database.transaction(read_only=True) as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


async def test_an_answer_while_the_engine_holds_the_run_waits_for_it_without_deadlock(
    client, member, database
):
    """The engine takes a run's lock first and records in the audit log after; an answer
    that recorded first and then wanted the run deadlocked with it on PostgreSQL."""
    if database.is_sqlite:
        pytest.skip("SQLite runs one write transaction at a time: no locks to take in turn")
    run_id, interaction_id = await _run_waiting_for_plan_approval(client, member)
    engine_holds_the_run = asyncio.Event()

    async def engine() -> None:
        async with database.transaction() as session:
            await lock_run(session, uuid.UUID(run_id))
            engine_holds_the_run.set()
            await wait_until(lambda: _someone_waits_for_a_lock(database), message="the answer")
            await audit.record(
                session,
                entity_type="run",
                entity_id=uuid.UUID(run_id),
                action=AuditAction.UPDATE,
                actor_id=None,
                after={"by": "the engine"},
            )

    async def answer() -> httpx.Response:
        await engine_holds_the_run.wait()
        return await client.post(
            f"/api/v1/interactions/{interaction_id}/respond",
            json={"approved": True},
            headers=member.headers,
        )

    _, answered = await asyncio.wait_for(asyncio.gather(engine(), answer()), 30)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "RESPONDED"
