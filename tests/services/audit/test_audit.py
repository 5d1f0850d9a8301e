"""The audit log: every change leaves a hash-chained entry, and tampering is detected."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from tests.services.workflows.conftest import wait_until


async def _lifecycle(client, actor) -> str:
    project = (
        await client.post("/api/v1/projects", json={"name": "Audited"}, headers=actor.headers)
    ).json()
    await client.post(
        f"/api/v1/projects/{project['id']}/transitions",
        json={"to_status": "PLANNING"},
        headers=actor.headers,
    )
    await client.patch(
        f"/api/v1/projects/{project['id']}", json={"name": "Renamed"}, headers=actor.headers
    )
    return project["id"]


async def test_every_change_is_recorded_with_before_and_after(client, member):
    project_id = await _lifecycle(client, member)
    trail = (
        await client.get(
            f"/api/v1/audit?entity_type=project&entity_id={project_id}", headers=member.headers
        )
    ).json()
    actions = [entry["action"] for entry in reversed(trail["items"])]
    assert actions == ["CREATE", "TRANSITION", "UPDATE"]
    transition = trail["items"][1]
    assert transition["before"]["status"] == "DRAFT"
    assert transition["after"]["status"] == "PLANNING"
    assert transition["actor_id"] == str(member.id)
    update = trail["items"][0]
    assert (update["before"]["name"], update["after"]["name"]) == ("Audited", "Renamed")


async def test_members_see_their_projects_trail_but_not_others(client, member, other_member):
    await _lifecycle(client, member)
    theirs = await _lifecycle(client, other_member)
    mine = (await client.get("/api/v1/audit?entity_type=project", headers=member.headers)).json()
    assert mine["total"] == 3
    assert theirs not in {entry["entity_id"] for entry in mine["items"]}


async def test_verify_is_admin_only(client, member):
    assert (await client.get("/api/v1/audit/verify", headers=member.headers)).status_code == 403


async def test_chain_verifies_and_detects_an_edited_row(client, member, admin, database):
    await _lifecycle(client, member)
    verified = (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()
    assert verified["valid"] is True
    total = verified["entries"]
    assert total >= 5  # users, tokens and the project's changes

    async with database.transaction() as session:
        await session.execute(
            text("UPDATE audit_entry SET entity_type = 'forged' WHERE seq = :seq"),
            {"seq": total - 1},
        )
    broken = (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()
    assert broken["valid"] is False
    assert broken["first_bad"] == total - 1


async def test_chain_detects_a_deleted_row_in_the_middle_and_at_the_end(
    client, member, admin, database
):
    await _lifecycle(client, member)
    total = (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()["entries"]
    async with database.transaction() as session:
        await session.execute(text("DELETE FROM audit_entry WHERE seq = :seq"), {"seq": total})
    tail = (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()
    assert tail["valid"] is False
    assert "removed" in tail["reason"]

    async with database.transaction() as session:
        await session.execute(text("DELETE FROM audit_entry WHERE seq = 2"))
    middle = (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()
    assert middle["valid"] is False
    assert middle["first_bad"] == 2


async def test_concurrent_changes_keep_one_unbroken_chain(client, member, admin):
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/projects", json={"name": f"p{i}"}, headers=member.headers)
            for i in range(20)
        )
    )
    assert {r.status_code for r in responses} == {201}
    verified = (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()
    assert verified["valid"] is True


async def test_a_failed_change_leaves_no_entry(client, member, admin):
    before = (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()["entries"]
    project = (
        await client.post("/api/v1/projects", json={"name": "x"}, headers=member.headers)
    ).json()
    illegal = await client.post(
        f"/api/v1/projects/{project['id']}/transitions",
        json={"to_status": "COMPLETED"},
        headers=member.headers,
    )
    assert illegal.status_code == 409
    after = (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()["entries"]
    assert after == before + 1  # the creation only


async def _entries(client, admin, entity_type: str) -> list[str]:
    trail = (
        await client.get(f"/api/v1/audit?entity_type={entity_type}", headers=admin.headers)
    ).json()
    return [entry["after"]["step"] for entry in reversed(trail["items"])]


async def test_an_entry_of_a_rolled_back_savepoint_is_not_chained(client, admin, database):
    from berrys.core.enums import AuditAction
    from berrys.services.audit import service as audit

    async def note(session, step: str) -> None:
        await audit.record(
            session,
            entity_type="savepoint-test",
            entity_id=None,
            action=AuditAction.UPDATE,
            actor_id=admin.id,
            after={"step": step},
        )

    async with database.transaction() as session:
        await note(session, "kept before")
        try:
            async with session.begin_nested():
                await note(session, "rolled back")
                raise RuntimeError("the savepoint's change fails")
        except RuntimeError:
            pass
        await note(session, "kept after")
    assert await _entries(client, admin, "savepoint-test") == ["kept before", "kept after"]
    assert (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()["valid"]


async def test_changes_locking_rows_in_opposite_orders_to_their_entries_both_commit(
    client, member, admin, database
):
    """One transaction records, then waits for a row another has locked and records after:
    with the chain's head locked where an entry is recorded, that is a deadlock."""
    if database.is_sqlite:
        pytest.skip("SQLite runs one write transaction at a time: no locks to take in turn")
    from berrys.core.enums import AuditAction
    from berrys.services.audit import service as audit

    project = (
        await client.post("/api/v1/projects", json={"name": "Contended"}, headers=member.headers)
    ).json()
    rename = text("UPDATE project SET name = :name WHERE id = :id")
    row_locked, first_waits = asyncio.Event(), asyncio.Event()

    async def note(session, step: str) -> None:
        await audit.record(
            session,
            entity_type="lock-order-test",
            entity_id=None,
            action=AuditAction.UPDATE,
            actor_id=member.id,
            after={"step": step},
        )

    async def records_then_locks() -> None:
        await row_locked.wait()
        async with database.transaction() as session:
            await note(session, "first")
            first_waits.set()
            await session.execute(rename, {"name": "by first", "id": project["id"]})

    async def locks_then_records() -> None:
        async with database.transaction() as session:
            await session.execute(rename, {"name": "by second", "id": project["id"]})
            row_locked.set()
            await first_waits.wait()
            await wait_until(lambda: _waiting_for_a_lock(database), message="first blocked")
            await note(session, "second")

    await asyncio.wait_for(asyncio.gather(records_then_locks(), locks_then_records()), 30)
    assert await _entries(client, admin, "lock-order-test") == ["second", "first"]
    assert (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()["valid"]


async def _waiting_for_a_lock(database) -> bool:
    async with database.transaction(read_only=True) as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)
