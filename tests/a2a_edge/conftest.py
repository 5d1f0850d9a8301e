"""A real ``berrys serve`` process offline (the RULES provider answers) on a loopback port,
with two MEMBERs holding tokens, for the A2A tests of this package; the run engine's
fixtures for the in-process Berrys that calls it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from a2a.client import Client, ClientConfig, create_client
from tests.conftest import Actor, create_actor
from tests.e2e.processes import Server, berrys_env, run_berrys, serving
from tests.services.runs.conftest import project, start_worker  # noqa: F401 (fixtures)

from berrys.config import Settings
from berrys.core.db import Database


@dataclass(frozen=True)
class Served:
    server: Server
    member: Actor
    other: Actor


def offline_env(data_dir: Path) -> dict[str, str]:
    return berrys_env(
        data_dir, BERRYS_LOCAL_MODEL_ENABLED="false", BERRYS_EMBEDDING_MODEL="hashing"
    )


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("berrys-a2a")
    env = offline_env(data_dir)
    upgraded = run_berrys("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    with serving(data_dir, env=env) as server:
        member, other = _actors(data_dir)
        yield Served(server=server, member=member, other=other)


def _actors(data_dir: Path) -> tuple[Actor, Actor]:
    async def make() -> tuple[Actor, Actor]:
        database = Database(Settings(data_dir=data_dir, _env_file=None).resolved_database_url)
        try:
            return await create_actor(database), await create_actor(database)
        finally:
            await database.dispose()

    return asyncio.run(make())


@asynccontextmanager
async def a2a_client(url: str, token: str) -> AsyncIterator[Client]:
    """The SDK's client for the agent at ``url``, sending ``token`` as its bearer token."""
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    client = await create_client(url, ClientConfig(httpx_client=http, streaming=True))
    try:
        yield client
    finally:
        await client.close()
        await http.aclose()
