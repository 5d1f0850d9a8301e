"""The estimate a plan approval shows prices the model the router would give the tasks."""

from __future__ import annotations

from typing import Any

import httpx

from berrys.services.llm import service as llm


async def _approval_estimate(client: httpx.AsyncClient, headers: dict[str, str]) -> Any:
    project = (
        await client.post("/api/v1/projects", json={"name": "priced"}, headers=headers)
    ).json()
    plan = await client.post(
        f"/api/v1/projects/{project['id']}/plans",
        json={"generate": False, "name": "p"},
        headers=headers,
    )
    for name in ("draft the brief", "review the brief"):
        made = await client.post(
            f"/api/v1/plans/{plan.json()['id']}/tasks",
            json={"name": name, "estimate_hours": 1},
            headers=headers,
        )
        assert made.status_code == 201, made.text
    run = await client.post(
        f"/api/v1/projects/{project['id']}/runs",
        json={"require_plan_approval": True},
        headers=headers,
    )
    assert run.status_code == 202, run.text
    pending = await client.get(
        "/api/v1/interactions",
        params={"status": "PENDING", "project_id": project["id"]},
        headers=headers,
    )
    return pending.json()["items"][0]["detail"]["details"]


async def test_the_estimate_uses_the_routed_models_prices(client, member, models) -> None:
    with llm.script(
        models, "priced-model", [], input_price_per_million=3.0, output_price_per_million=15.0
    ):
        estimate = await _approval_estimate(client, member.headers)
    assert estimate["price_source"] == "scripted/priced-model"
    assert estimate["estimated_tokens"] > 0
    # Every token is charged at one of the two prices, so the cost lies between them.
    tokens = estimate["estimated_tokens"]
    assert tokens * 3.0 / 1e6 < estimate["estimated_cost_usd"] < tokens * 15.0 / 1e6
    assert "$0.0000" not in estimate["summary"]
