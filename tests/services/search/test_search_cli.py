"""``berrys search`` against a migrated SQLite file."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from berrys.cli.app import app
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserCreate, UserRole
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate

PROJECTS = {
    "Bakery website": "A website for my bakery with online orders for bread and cakes.",
    "Tax report": "Prepare the yearly tax declaration and collect receipts for the accountant.",
    "Podcast launch": "Record, edit and publish the first ten episodes of a history podcast.",
}


async def _prepare(url: str) -> None:
    database = Database(url)
    try:
        await migrate.upgrade(database)
        async with database.transaction() as session:
            for email in ("ops@example.com", "someone@example.com"):
                user = await auth.create_user(
                    session,
                    user_in=UserCreate.model_validate(
                        {"email": email, "password": "long enough pw", "role": UserRole.MEMBER}
                    ),
                    actor_id=None,
                )
                for name, description in PROJECTS.items():
                    if email == "ops@example.com" or name == "Bakery website":
                        await projects.create(
                            session,
                            project_in=ProjectCreate(
                                name=f"{name} ({email.split('@')[0]})", description=description
                            ),
                            user=user,
                        )
    finally:
        await database.dispose()


def test_search_projects(tmp_path):
    env = {
        "BERRYS_DATA_DIR": str(tmp_path),
        "BERRYS_LOG_LEVEL": "WARNING",
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
    }
    asyncio.run(_prepare(f"sqlite+aiosqlite:///{tmp_path / 'berrys.db'}"))
    runner = CliRunner()
    common = ["--as", "ops@example.com"]

    table = runner.invoke(app, ["search", "bread shop", "--kind", "project", *common], env=env)
    assert table.exit_code == 0, table.output
    assert "1 hit for 'bread shop'" in table.output
    assert "Bakery" in table.output
    assert "someone" not in table.output

    found = runner.invoke(
        app, ["search", "audio show episodes", "--kind", "PROJECT", "--json", *common], env=env
    )
    assert found.exit_code == 0, found.output
    result = json.loads(found.output)
    assert result["items"][0]["name"] == "Podcast launch (ops)"
    assert result["pending"] == 0
    assert {hit["kind"] for hit in result["items"]} == {"PROJECT"}

    unknown = runner.invoke(app, ["search", "bread", "--kind", "plan", *common], env=env)
    assert unknown.exit_code == 2
    assert "agent_template" in unknown.output.lower()
    empty = runner.invoke(app, ["search", "  ", *common], env=env)
    assert empty.exit_code == 2
    assert "Invalid query" in empty.output
