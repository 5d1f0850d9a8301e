"""Berrys' MCP server as its users start it: ``berrys mcp`` spawned by the SDK's stdio
client, and ``/mcp`` on a real ``berrys serve`` process, each on its own data directory."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from tests.conftest import Actor, create_actor
from tests.e2e.processes import BERRYS, berrys_env, run_berrys, serving
from tests.mcp_server.flow import DESCRIPTION, call, description_to_artifact
from tests.mcp_server.test_http import connected
from typer.testing import CliRunner

from berrys.cli.app import app
from berrys.config import Settings
from berrys.core.db import Database


def _env(data_dir: Path) -> dict[str, str]:
    # Offline: the RULES provider answers; the hashing embedder is quick to load.
    return berrys_env(
        data_dir, BERRYS_LOCAL_MODEL_ENABLED="false", BERRYS_EMBEDDING_MODEL="hashing"
    )


async def _member_of(data_dir: Path) -> Actor:
    """A MEMBER with a token in the data directory's (migrated) database."""
    database = Database(Settings(data_dir=data_dir, _env_file=None).resolved_database_url)
    try:
        return await create_actor(database)
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
async def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Actor]:
    data_dir = tmp_path_factory.mktemp("berrys-mcp")
    env = _env(data_dir)
    upgraded = run_berrys("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    return env, await _member_of(data_dir)


async def test_berrys_mcp_over_stdio_takes_a_description_to_an_artifact(migrated) -> None:
    env, member = migrated
    server = StdioServerParameters(
        command=BERRYS[0], args=[*BERRYS[1:], "mcp"], env={**env, "BERRYS_TOKEN": member.token}
    )
    async with Client(server, read_timeout_seconds=60) as client:
        run = await description_to_artifact(client)
    assert run["status"] in {"COMPLETED", "COMPLETED_WITH_REVIEW"}


def test_berrys_mcp_refuses_a_missing_token(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["mcp"], env=_env(tmp_path))
    assert missing.exit_code == 2
    assert "give --token or set BERRYS_TOKEN" in missing.stderr


def test_berrys_mcp_refuses_an_invalid_token(migrated) -> None:
    env, _ = migrated
    invalid = run_berrys("mcp", "--token", "not-a-token", env=env, stdin="")
    assert invalid.returncode == 1
    assert "Invalid, expired or revoked token" in invalid.stderr
    assert invalid.stdout == ""  # stdout is the protocol's: nothing else is written there


async def test_mcp_on_a_berrys_serve_process(tmp_path: Path) -> None:
    with serving(tmp_path, env=_env(tmp_path)) as server:
        member = await _member_of(tmp_path)
        async with httpx.AsyncClient(base_url=server.url) as http:
            refused = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert refused.status_code == 401
        assert refused.json()["detail"].startswith("Missing bearer token")
        async with connected(server.url, member.token) as client:
            project = await call(client, "create_project", description=DESCRIPTION)
            read = await client.read_resource(f"berrys://projects/{project['id']}")
            listed = await call(client, "list_projects")
    assert json.loads(read.contents[0].text)["owner_id"] == str(member.id)  # type: ignore[union-attr]
    assert [p["id"] for p in listed["items"]] == [project["id"]]
