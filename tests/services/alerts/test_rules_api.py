"""Alert rules over REST: create, read, change and delete them with their audit entries;
who may see and change which; bad input as problem+json; acknowledging an episode."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from tests.services.alerts.conftest import (
    EPISODES,
    RULES,
    Clock,
    add_rule,
    episodes_of,
    unattended_run,
)

from berrys.core.db import Database

STALLED = {"kind": "RUN_STALLED", "idle_minutes": 5}


async def test_crud_with_audit_entries(
    client: httpx.AsyncClient, member: Any, project_id: str
) -> None:
    rule = await add_rule(
        client,
        member,
        {"kind": "TASK_FAILURE_RATE", "threshold_percent": 25},
        project_id=project_id,
        webhook_url="https://hooks.example.com/berrys",
        webhook_secret="0123456789abcdef",
    )
    assert rule["condition"] == {
        "kind": "TASK_FAILURE_RATE",
        "threshold_percent": 25.0,
        "window_minutes": 60,
        "min_tasks": 5,
    }
    assert (rule["firing"], rule["webhook_secret_set"], rule["created_by"]) == (
        False,
        True,
        str(member.id),
    )
    path = f"{RULES}/{rule['id']}"
    changed = await client.patch(
        path,
        json={"condition": {"kind": "APPROVAL_WAITING", "waiting_minutes": 15}, "webhook_url": ""},
        headers=member.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["condition"] == {"kind": "APPROVAL_WAITING", "waiting_minutes": 15}
    assert (changed.json()["webhook_url"], changed.json()["webhook_secret_set"]) == (None, False)
    listed = (await client.get(RULES, headers=member.headers)).json()
    assert [item["id"] for item in listed["items"]] == [rule["id"]]

    assert (await client.delete(path, headers=member.headers)).status_code == 204
    assert (await client.get(path, headers=member.headers)).status_code == 404
    trail = await client.get(
        "/api/v1/audit", params={"entity_type": "alert_rule"}, headers=member.headers
    )
    assert sorted(entry["action"] for entry in trail.json()["items"]) == [
        "CREATE",
        "DELETE",
        "UPDATE",
    ]


async def test_nobody_sees_or_changes_alerts_that_are_not_theirs(
    client: httpx.AsyncClient,
    database: Database,
    member: Any,
    other_member: Any,
    viewer: Any,
    admin: Any,
    project_id: str,
    clock: Clock,
) -> None:
    rule = await add_rule(client, member, STALLED, project_id=project_id)
    global_rule = await add_rule(client, admin, STALLED)
    await unattended_run(database, project_id)
    await clock.evaluate(after=timedelta(minutes=6))
    [episode] = await episodes_of(client, member, rule)

    for path in (
        f"{RULES}/{rule['id']}",
        f"{EPISODES}/{episode['id']}",
        f"{EPISODES}/{episode['id']}/deliveries",
    ):
        assert (await client.get(path, headers=other_member.headers)).status_code == 404
    for method, path in (
        ("PATCH", f"{RULES}/{rule['id']}"),
        ("DELETE", f"{RULES}/{rule['id']}"),
        ("POST", f"{EPISODES}/{episode['id']}/acknowledge"),
    ):
        body = {"enabled": False} if method == "PATCH" else None
        response = await client.request(method, path, json=body, headers=other_member.headers)
        assert response.status_code == 404, (method, path)
    assert (await client.get(RULES, headers=other_member.headers)).json()["items"] == []
    assert (await client.get(EPISODES, headers=other_member.headers)).json()["items"] == []
    # A global rule is an ADMIN's: a member neither sees it nor creates one.
    assert (
        await client.get(f"{RULES}/{global_rule['id']}", headers=member.headers)
    ).status_code == 404
    refused = await client.post(
        RULES, json={"name": "all", "condition": STALLED}, headers=member.headers
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    foreign = {"name": "x", "condition": STALLED, "project_id": project_id}
    assert (await client.post(RULES, json=foreign, headers=other_member.headers)).status_code == 404
    assert (await client.post(RULES, json=foreign, headers=viewer.headers)).status_code == 403
    # The ADMIN sees both rules, and the global rule fired over every project.
    assert {
        item["id"] for item in (await client.get(RULES, headers=admin.headers)).json()["items"]
    } == {
        rule["id"],
        global_rule["id"],
    }
    assert len(await episodes_of(client, admin, global_rule)) == 1


async def test_bad_rules_are_problems(
    client: httpx.AsyncClient, member: Any, project_id: str
) -> None:
    cases = [
        {"kind": "RUN_STALLED", "idle_minutes": 0},
        {"kind": "TASK_FAILURE_RATE", "threshold_percent": 150},
        {"kind": "NO_SUCH_KIND"},
        {"kind": "BUDGET_SPENT", "idle_minutes": 5},
    ]
    for condition in cases:
        body = {"name": "bad", "condition": condition, "project_id": project_id}
        response = await client.post(RULES, json=body, headers=member.headers)
        assert response.status_code == 422, condition
        assert response.headers["content-type"] == "application/problem+json"
    no_secret = {
        "name": "hook",
        "condition": STALLED,
        "project_id": project_id,
        "webhook_url": "https://hooks.example.com/x",
    }
    response = await client.post(RULES, json=no_secret, headers=member.headers)
    assert response.status_code == 422
    assert "webhook_secret" in response.json()["detail"]
    bad_url = {**no_secret, "webhook_url": "ftp://x", "webhook_secret": "0123456789abcdef"}
    assert (await client.post(RULES, json=bad_url, headers=member.headers)).status_code == 422
    no_smtp = {
        "name": "mail",
        "condition": STALLED,
        "project_id": project_id,
        "email_to": ["ops@example.com"],
    }
    response = await client.post(RULES, json=no_smtp, headers=member.headers)
    assert response.status_code == 422
    assert "SMTP" in response.json()["detail"]


async def test_acknowledging_a_firing_episode(
    client: httpx.AsyncClient, database: Database, member: Any, project_id: str, clock: Clock
) -> None:
    rule = await add_rule(client, member, STALLED, project_id=project_id)
    await unattended_run(database, project_id)
    await clock.evaluate(after=timedelta(minutes=6))
    [episode] = await episodes_of(client, member, rule)
    path = f"{EPISODES}/{episode['id']}/acknowledge"
    acknowledged = await client.post(path, headers=member.headers)
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["acknowledged_by"] == str(member.id)
    assert acknowledged.json()["status"] == "FIRING"
    assert (await client.post(path, headers=member.headers)).status_code == 409
    firing = await client.get(EPISODES, params={"status": "FIRING"}, headers=member.headers)
    assert firing.json()["total"] == 1
    listed = (await client.get(RULES, headers=member.headers)).json()["items"]
    assert [item["firing"] for item in listed] == [True]
