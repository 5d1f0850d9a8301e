"""``berrys agents generate`` and ``berrys agents list`` against a migrated SQLite file."""

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
    "Build a mobile app for our running club. Members should see the training plan. "
    "The app must protect members' personal data."
)


async def _prepare(url: str) -> str:
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
            project = await projects.create(
                session,
                project_in=ProjectCreate(name="Club app", description=DESCRIPTION),
                user=user,
            )
        return str(project.id)
    finally:
        await database.dispose()


def test_generate_then_list(tmp_path):
    env = {
        "BERRYS_DATA_DIR": str(tmp_path),
        "BERRYS_LOG_LEVEL": "WARNING",
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
    }
    project_id = asyncio.run(_prepare(f"sqlite+aiosqlite:///{tmp_path / 'berrys.db'}"))
    runner = CliRunner()
    common = ["--as", "ops@example.com"]

    preview = runner.invoke(app, ["agents", "generate", "club app", "--dry-run", *common], env=env)
    assert preview.exit_code == 0, preview.output
    assert "dry run" in preview.output
    assert "COORDINATOR" in preview.output

    empty = runner.invoke(app, ["agents", "list", project_id, *common], env=env)
    assert "No agents yet" in empty.output

    made = runner.invoke(app, ["agents", "generate", project_id, "--json", *common], env=env)
    assert made.exit_code == 0, made.output
    made_team = json.loads(made.output)["team"]
    team = {agent["agent_type"] for agent in made_team}
    assert {"COORDINATOR", "DEVELOPER"} <= team

    listed = runner.invoke(app, ["agents", "list", "Club app", *common], env=env)
    assert listed.exit_code == 0, listed.output
    for word in ("COORDINATOR", "DEVELOPER", "CREATED"):
        assert word in listed.output
    as_json = runner.invoke(app, ["agents", "list", project_id, "--json", *common], env=env)
    assert len(json.loads(as_json.output)) == len(made_team)

    missing = runner.invoke(app, ["agents", "list", "Nope", *common], env=env)
    assert missing.exit_code == 1
    assert "No project named 'Nope'" in missing.output
    nobody = runner.invoke(app, ["agents", "list", project_id, "--as", "x@example.com"], env=env)
    assert nobody.exit_code == 1
