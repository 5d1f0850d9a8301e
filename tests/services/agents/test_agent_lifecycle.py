"""The agent lifecycle: every legal and every illegal transition, and its history."""

from __future__ import annotations

import pytest

from berrys.services.agents.contracts import AGENT_TRANSITIONS, AgentState

S = AgentState
# How to reach each state from CREATED.
PATHS = {
    S.CREATED: [],
    S.INITIALIZING: [S.INITIALIZING],
    S.READY: [S.INITIALIZING, S.READY],
    S.ACTIVE: [S.INITIALIZING, S.READY, S.ACTIVE],
    S.PAUSED: [S.INITIALIZING, S.READY, S.ACTIVE, S.PAUSED],
    S.ERROR: [S.ERROR],
    S.TERMINATED: [S.TERMINATED],
}


def test_the_table_is_the_issue_s_state_machine():
    assert AGENT_TRANSITIONS[S.CREATED] == {S.INITIALIZING, S.ERROR, S.TERMINATED}
    assert AGENT_TRANSITIONS[S.ACTIVE] == {S.PAUSED, S.ERROR, S.TERMINATED}
    assert AGENT_TRANSITIONS[S.PAUSED] == {S.ACTIVE, S.ERROR, S.TERMINATED}
    assert AGENT_TRANSITIONS[S.ERROR] == {S.READY, S.TERMINATED}
    assert AGENT_TRANSITIONS[S.TERMINATED] == frozenset()
    for state in S:
        if state not in (S.TERMINATED, S.ERROR):
            assert {S.ERROR, S.TERMINATED} <= AGENT_TRANSITIONS[state]


async def _move(client, headers, agent_id, to_state):
    return await client.post(
        f"/api/v1/agents/{agent_id}/transitions",
        json={"to_state": to_state, "reason": "test"},
        headers=headers,
    )


@pytest.mark.parametrize("start", list(S))
async def test_every_transition_from(start, client, member, new_agent):
    for target in S:
        agent = await new_agent()
        for step in PATHS[start]:
            assert (await _move(client, member.headers, agent["id"], step)).status_code == 200
        response = await _move(client, member.headers, agent["id"], target)
        if target in AGENT_TRANSITIONS[start]:
            assert response.status_code == 200, (start, target, response.text)
            body = response.json()
            assert body["state"] == target
            assert body["allowed_transitions"] == sorted(AGENT_TRANSITIONS[target])
        else:
            assert response.status_code == 409, (start, target, response.text)
            problem = response.json()
            assert response.headers["content-type"] == "application/problem+json"
            assert problem["allowed"] == sorted(AGENT_TRANSITIONS[start])
            assert problem["current"] == start
            listed = ", ".join(sorted(AGENT_TRANSITIONS[start])) or "none (terminal state)"
            assert listed in problem["detail"]
            got = await client.get(f"/api/v1/agents/{agent['id']}", headers=member.headers)
            assert got.json()["state"] == start


async def test_history_records_every_step_with_reason_and_actor(client, member, new_agent):
    agent = await new_agent()
    for step in [S.INITIALIZING, S.READY, S.ACTIVE, S.PAUSED, S.ACTIVE, S.ERROR, S.READY]:
        assert (await _move(client, member.headers, agent["id"], step)).status_code == 200
    history = (
        await client.get(f"/api/v1/agents/{agent['id']}/history", headers=member.headers)
    ).json()
    assert history["total"] == 8
    pairs = [(row["from_state"], row["to_state"]) for row in history["items"]]
    assert pairs[0] == (None, "CREATED")
    assert pairs[1:] == [
        ("CREATED", "INITIALIZING"),
        ("INITIALIZING", "READY"),
        ("READY", "ACTIVE"),
        ("ACTIVE", "PAUSED"),
        ("PAUSED", "ACTIVE"),
        ("ACTIVE", "ERROR"),
        ("ERROR", "READY"),
    ]
    assert all(row["transitioned_by"] == str(member.id) for row in history["items"])
    assert history["items"][1]["reason"] == "test"


async def test_lowercase_state_is_accepted_with_a_deprecation_and_unknown_is_422(
    client, member, new_agent
):
    agent = await new_agent()
    response = await _move(client, member.headers, agent["id"], "initializing")
    assert response.status_code == 200
    assert response.json()["state"] == "INITIALIZING"
    bad = await _move(client, member.headers, agent["id"], "SLEEPING")
    assert bad.status_code == 422
    assert "READY" in bad.json()["errors"][0]["allowed"]


async def test_transitions_are_audited(client, member, new_agent):
    agent = await new_agent()
    await _move(client, member.headers, agent["id"], S.INITIALIZING)
    audit = (
        await client.get(
            "/api/v1/audit",
            params={"entity_type": "agent", "entity_id": agent["id"]},
            headers=member.headers,
        )
    ).json()
    assert [entry["action"] for entry in audit["items"]] == ["TRANSITION", "CREATE"]
