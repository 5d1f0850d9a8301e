"""``berrys plan generate`` and ``berrys plan show`` against a migrated SQLite file."""

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

DESCRIPTION = (
    "Build an online shop for a bakery. Customers should pay securely at checkout. "
    "Write friendly product descriptions."
)


async def _prepare(url: str) -> None:
    database = Database(url)
    try:
        await migrate.upgrade(database)
        async with database.transaction() as session:
            user = await auth.create_user(
                session,
                user_in=UserCreate.model_validate(
                    {
                        "email": "ops@example.com",
                        "password": "long enough pw",
                        "role": UserRole.ADMIN,
                    }
                ),
                actor_id=None,
            )
            await projects.create(
                session, project_in=ProjectCreate(name="Bakery", description=DESCRIPTION), user=user
            )
    finally:
        await database.dispose()


def test_generate_and_show_the_gantt_chart(tmp_path):
    env = {"BERRYS_DATA_DIR": str(tmp_path), "BERRYS_LOG_LEVEL": "WARNING", "COLUMNS": "200"}
    asyncio.run(_prepare(f"sqlite+aiosqlite:///{tmp_path / 'berrys.db'}"))
    runner = CliRunner()
    common = ["--as", "ops@example.com"]

    missing = runner.invoke(app, ["plan", "show", "bakery", *common], env=env)
    assert missing.exit_code == 1
    assert "no plan yet" in missing.output

    team = runner.invoke(app, ["agents", "generate", "bakery", *common], env=env)
    assert team.exit_code == 0, team.output
    made = runner.invoke(
        app, ["plan", "generate", "bakery", "--methodology", "waterfall", *common], env=env
    )
    assert made.exit_code == 0, made.output
    assert "WATERFALL" in made.output

    shown = runner.invoke(app, ["plan", "show", "bakery", "--seed", "1", *common], env=env)
    assert shown.exit_code == 0, shown.output
    for expected in ("Sign off the", "█", "Critical path", "P50", "P80", "P95"):
        assert expected in shown.output, expected

    as_json = runner.invoke(app, ["plan", "show", "bakery", "--json", *common], env=env)
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["schedule"]["critical_path"]
    assert {t["id"] for t in data["plan"]["tasks"]} == {
        t["task_id"] for t in data["schedule"]["tasks"]
    }
