"""The registry over REST: CRUD, categories, secrets masked, lifecycle, batch, discovery,
evaluation, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TIME_SERVER = {"transport": "STDIO", "command": sys.executable, "args": ["-m", "mcp_server_time"]}


def _tool(name: str, **fields: object) -> dict:
    return {
        "name": name,
        "source": "BUILTIN",
        "target": "math.evaluate",
        "description": f"{name} does a thing",
        **fields,
    }


async def test_crud_masking_and_lifecycle(client, admin, member, viewer):
    body = _tool(
        "calc",
        capabilities=["Math", "math", " arithmetic "],
        categories=["Utility"],
        configuration={"api_key": "sk-123", "nested": {"password": "p"}, "mode": "fast"},
    )
    assert (
        await client.post("/api/v1/tools", json=body, headers=member.headers)
    ).status_code == 403
    created = await client.post("/api/v1/tools", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    tool = created.json()
    assert tool["capabilities"] == ["math", "arithmetic"]
    assert tool["configuration"] == {
        "api_key": "***",
        "nested": {"password": "***"},
        "mode": "fast",
    }
    assert "sk-123" not in created.text
    assert tool["status"] == "DISCOVERED"

    got = await client.get(f"/api/v1/tools/{tool['id']}", headers=viewer.headers)
    assert got.json() == tool
    duplicate = await client.post("/api/v1/tools", json=body, headers=admin.headers)
    assert duplicate.status_code == 409

    illegal = await client.patch(
        f"/api/v1/tools/{tool['id']}", json={"status": "DEPRECATED"}, headers=admin.headers
    )
    assert illegal.status_code == 200
    back = await client.patch(
        f"/api/v1/tools/{tool['id']}", json={"status": "REJECTED"}, headers=admin.headers
    )
    assert back.status_code == 409
    assert back.json()["allowed"] == ["APPROVED", "DISCOVERED"]

    kept = await client.patch(
        f"/api/v1/tools/{tool['id']}",
        json={"configuration": {"api_key": "***", "mode": "slow"}},
        headers=admin.headers,
    )
    assert kept.json()["configuration"] == {"api_key": "***", "mode": "slow"}

    categories = await client.get("/api/v1/tools/categories", headers=member.headers)
    assert {"name": "utility", "tools": 1} in categories.json()
    by_category = await client.get(
        "/api/v1/tools", params={"category": "UTILITY"}, headers=member.headers
    )
    assert [t["name"] for t in by_category.json()["items"]] == ["calc"]

    audit = await client.get(
        "/api/v1/audit",
        params={"entity_type": "tool", "entity_id": tool["id"]},
        headers=admin.headers,
    )
    assert audit.json()["total"] >= 3
    assert "sk-123" not in audit.text

    deleted = await client.delete(f"/api/v1/tools/{tool['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    assert (
        await client.get(f"/api/v1/tools/{tool['id']}", headers=admin.headers)
    ).status_code == 404


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (
            {"input_schema": {"type": "object", "properties": {"a": {"type": "nope"}}}},
            "not a valid",
        ),
        ({"input_schema": {"type": "string"}}, "must describe an object"),
        ({"target": "no.such.builtin"}, "no built-in tool"),
        ({"source": "MCP"}, "needs mcp_server_id"),
        ({"source": "HTTP"}, "needs configuration.url"),
        ({"name": "bad name!"}, "letters, digits"),
        ({"source": "SOMETHING"}, "BUILTIN"),
    ],
)
async def test_bad_registrations(client, admin, fields, words):
    answer = await client.post("/api/v1/tools", json=_tool("x") | fields, headers=admin.headers)
    assert answer.status_code == 422, answer.text
    assert words in answer.text


async def test_batch_reports_each_item_and_writes_nothing_half(client, admin, member):
    batch = [
        _tool("one"),
        _tool("two", input_schema={"type": "object", "properties": {"a": {"type": 5}}}),
        _tool("three", capabilities=["x"]),
        _tool("one"),
        _tool("four", target="nope"),
    ]
    answer = await client.post("/api/v1/tools/batch", json={"tools": batch}, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["created"], result["failed"]) == (2, 3)
    assert [(r["name"], r["ok"], r["status"]) for r in result["results"]] == [
        ("one", True, 201),
        ("two", False, 422),
        ("three", True, 201),
        ("one", False, 409),
        ("four", False, 422),
    ]
    listed = await client.get("/api/v1/tools", headers=member.headers)
    assert sorted(t["name"] for t in listed.json()["items"]) == ["one", "three"]
    # Against the database as well: an existing name fails alone.
    again = await client.post(
        "/api/v1/tools/batch", json={"tools": [_tool("one"), _tool("five")]}, headers=admin.headers
    )
    assert [r["ok"] for r in again.json()["results"]] == [False, True]


async def test_discovery_ranks_approved_tools_up_and_deprecated_ones_down(client, admin, member):
    ids = {}
    for name in ("sketch.new", "sketch.plain", "sketch.old"):
        body = _tool(name, capabilities=["sketch"])
        created = await client.post("/api/v1/tools", json=body, headers=admin.headers)
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
    for name, status in (("sketch.new", "APPROVED"), ("sketch.old", "DEPRECATED")):
        changed = await client.patch(
            f"/api/v1/tools/{ids[name]}", json={"status": status}, headers=admin.headers
        )
        assert changed.status_code == 200, changed.text
    found = await client.post(
        "/api/v1/tools/discover", json={"capability": "sketch"}, headers=member.headers
    )
    ranked = [c for c in found.json()["candidates"] if c["kind"] == "TOOL"]
    assert [c["name"] for c in ranked] == ["sketch.new", "sketch.plain", "sketch.old"]
    assert "approved for use" in ranked[0]["reasons"]
    assert "deprecated: ranked lower" in ranked[2]["reasons"]
    assert ranked[0]["score"] > ranked[1]["score"] > ranked[2]["score"]


async def test_discovery_ranks_the_time_tools_first_with_reasons(
    client, member, other_member, builtins, add_server
):
    await add_server("time", **TIME_SERVER)
    await add_server("elsewhere", refresh=False, transport="STDIO", command="unused")
    found = await client.post(
        "/api/v1/tools/discover",
        json={"query": "current time in a timezone", "context": {"task": "schedule a call"}},
        headers=member.headers,
    )
    assert found.status_code == 200, found.text
    result = found.json()
    names = [c["name"] for c in result["candidates"]]
    assert names[0] == "time.get_current_time"
    assert names[1] == "time.convert_time"
    assert "matches 3 of 3 query words" in result["candidates"][0]["reasons"][0]
    assert result["candidates"][0]["score"] > result["candidates"][1]["score"]

    by_capability = await client.post(
        "/api/v1/tools/discover", json={"capability": "file_read"}, headers=member.headers
    )
    top = by_capability.json()["candidates"][0]
    assert top["name"] == "workspace.read_file"
    assert "capability 'file_read' matches exactly" in top["reasons"]

    stored = await client.get(f"/api/v1/tools/discoveries/{result['id']}", headers=member.headers)
    assert stored.json()["context"] == {"task": "schedule a call"}
    assert stored.json()["query"] == "current time in a timezone"
    assert stored.json()["results"][0]["name"] == "time.get_current_time"
    hidden = await client.get(
        f"/api/v1/tools/discoveries/{result['id']}", headers=other_member.headers
    )
    assert hidden.status_code == 404

    unknown_server = await client.post(
        "/api/v1/tools/discover", json={"query": "elsewhere things"}, headers=member.headers
    )
    kinds = {(c["kind"], c["name"]) for c in unknown_server.json()["candidates"]}
    assert ("MCP_SERVER", "elsewhere") in kinds

    nothing = await client.post("/api/v1/tools/discover", json={}, headers=member.headers)
    assert nothing.status_code == 422

    from berrys.services.tools import discovery

    async def embed(texts: list[str]) -> list[list[float]]:
        about_time = [any(w in text.lower() for w in ("time", "hour")) for text in texts]
        return [[1.0, 0.0] if near else [0.0, 1.0] for near in about_time]

    discovery.set_embedder(embed)
    try:
        semantic = await client.post(
            "/api/v1/tools/discover", json={"query": "what hour is it"}, headers=member.headers
        )
    finally:
        discovery.set_embedder(None)
    assert semantic.json()["semantic"] is True
    top = semantic.json()["candidates"][0]
    assert top["name"].startswith("time.")
    assert any("semantic similarity 1.00" in r for r in top["reasons"]), top


async def test_evaluation_from_measurements_with_history(client, admin, member, builtins):
    math = builtins["math.evaluate"]
    first = await client.post(f"/api/v1/tools/{math}/evaluate", json={}, headers=member.headers)
    assert first.status_code == 200, first.text
    evaluation = first.json()
    assert evaluation["details"]["performance"]["measured_by"] == "probe"
    assert evaluation["details"]["performance"]["success_rate"] == 1.0
    assert evaluation["performance"] == 1.0
    assert evaluation["security"] == 1.0
    assert evaluation["verdict"] == "RECOMMENDED"

    write = builtins["workspace.write_file"]
    risky = await client.post(f"/api/v1/tools/{write}/evaluate", headers=member.headers)
    assert risky.json()["security"] < 1.0
    assert "writes files" in " ".join(risky.json()["details"]["security"]["findings"])
    assert risky.json()["details"]["performance"]["measured_by"] == "none"

    secret = await client.post(
        "/api/v1/tools",
        json=_tool("leaky", configuration={"token": "abc", "password": "x", "secret": "y"}),
        headers=admin.headers,
    )
    leaky = await client.post(
        f"/api/v1/tools/{secret.json()['id']}/evaluate", headers=member.headers
    )
    assert "secrets stored in configuration" in " ".join(
        leaky.json()["details"]["security"]["findings"]
    )
    assert leaky.json()["security"] < 0.7
    tool = await client.get(f"/api/v1/tools/{secret.json()['id']}", headers=member.headers)
    assert tool.json()["status"] == "EVALUATED"
    assert tool.json()["score"] == leaky.json()["overall"]

    await client.post(f"/api/v1/tools/{math}/evaluate", json={"probes": 2}, headers=member.headers)
    history = await client.get(f"/api/v1/tools/{math}/evaluations", headers=member.headers)
    assert history.json()["total"] == 2


async def test_evaluating_an_mcp_tool_measures_its_server(client, member, add_server, tool_id):
    await add_server("time", **TIME_SERVER)
    tool = await tool_id("time.get_current_time")
    answer = await client.post(
        f"/api/v1/tools/{tool}/evaluate",
        json={"probe_arguments": {"timezone": "UTC"}, "probes": 3},
        headers=member.headers,
    )
    result = answer.json()
    assert result["details"]["compatibility"]["server_reachable"] is True
    assert result["details"]["compatibility"]["tool_still_listed"] is True
    assert result["details"]["performance"]["measured_by"] == "probe"
    assert result["details"]["performance"]["success_rate"] == 1.0
    assert result["verdict"] in ("RECOMMENDED", "ACCEPTABLE")


def _berrys(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BERRYS_DATA_DIR": str(data_dir), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("BERRYS_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "berrys", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_add_mcp_list_and_call(tmp_path):
    assert _berrys(tmp_path, "db", "upgrade").returncode == 0
    added = _berrys(
        tmp_path, "tools", "add-mcp", "time", "--", sys.executable, "-m", "mcp_server_time"
    )
    assert added.returncode == 0, added.stderr
    assert "time.get_current_time" in added.stdout
    listed = _berrys(tmp_path, "tools", "list", "--json")
    ids = {tool["name"]: tool["id"] for tool in json.loads(listed.stdout)}
    assert {"time.get_current_time", "math.evaluate", "workspace.read_file"} <= set(ids)
    again = _berrys(
        tmp_path, "tools", "add-mcp", "time", "--", sys.executable, "-m", "mcp_server_time"
    )
    assert again.returncode == 0, again.stderr
    assert "0 new, 0 updated" in again.stdout  # the same server: updated in place, nothing new
    by_id = _berrys(
        tmp_path, "tools", "call", ids["math.evaluate"], "--args", '{"expression": "6*7"}', "--json"
    )
    assert by_id.returncode == 0, by_id.stderr
    assert json.loads(by_id.stdout)["output"]["value"] == 42
    found = _berrys(tmp_path, "tools", "discover", "current time in a timezone", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["candidates"][0]["name"] == "time.get_current_time"
    called = _berrys(
        tmp_path, "tools", "call", "time.get_current_time", "--args", '{"timezone": "Asia/Tokyo"}'
    )
    assert called.returncode == 0, called.stderr
    assert '"timezone": "Asia/Tokyo"' in called.stdout
    bad = _berrys(tmp_path, "tools", "call", "time.get_current_time", "--args", "{}")
    assert bad.returncode == 1
    assert "'timezone' is a required property" in bad.stderr
