"""The audit log: every change leaves a hash-chained entry, and tampering is detected."""

from __future__ import annotations

import asyncio

from sqlalchemy import text


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
