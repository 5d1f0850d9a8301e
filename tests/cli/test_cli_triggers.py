"""``berrys schedules`` and ``berrys webhooks`` in process (typer's CliRunner): add, list and
rm on a project named by its name, a bad cron expression refused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from berrys.cli.app import app
from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate


async def _project(data_dir: Path, name: str) -> None:
    database = Database(Settings(data_dir=data_dir).resolved_database_url)
    try:
        async with database.transaction() as session:
            admin = await auth.get_by_email(session, email="admin@berrys.local")
            await projects.create(session, project_in=ProjectCreate(name=name), user=admin)
    finally:
        await database.dispose()


def test_schedules_and_webhooks_of_a_project(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    runner = CliRunner()
    env = {"BERRYS_DATA_DIR": str(data_dir), "BERRYS_LOCAL_MODEL_ENABLED": "false", "NO_COLOR": "1"}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    created = runner.invoke(
        app,
        ["user", "create", "--email", "admin@berrys.local", "--role", "admin"],
        input="correct horse battery\n",
        env=env,
    )
    assert created.exit_code == 0, created.output
    asyncio.run(_project(data_dir, "Nightly"))

    bad = runner.invoke(app, ["schedules", "add", "Nightly", "every night"], env=env)
    assert bad.exit_code == 2
    added = runner.invoke(app, ["schedules", "add", "Nightly", "0 2 * * *"], env=env)
    assert added.exit_code == 0, added.output
    (schedule,) = json.loads(
        runner.invoke(app, ["schedules", "list", "Nightly", "--json"], env=env).stdout
    )
    assert schedule["cron"] == "0 2 * * *"
    assert "T02:00:00" in schedule["next_fire_at"]
    removed = runner.invoke(app, ["schedules", "rm", "Nightly", schedule["id"]], env=env)
    assert removed.exit_code == 0, removed.output

    hook = runner.invoke(
        app,
        ["webhooks", "add", "Nightly", "https://example.com/hook", "--event", "run_finished"],
        env={**env, "BERRYS_WEBHOOK_SECRET": "a-webhook-secret-of-ours"},
    )
    assert hook.exit_code == 0, hook.output
    assert "(signed)" in hook.stdout
    (webhook,) = json.loads(
        runner.invoke(app, ["webhooks", "list", "Nightly", "--json"], env=env).stdout
    )
    assert webhook["events"] == ["RUN_FINISHED"]
    assert webhook["secret_set"] is True
    deliveries = runner.invoke(app, ["webhooks", "deliveries", "Nightly", webhook["id"]], env=env)
    assert deliveries.exit_code == 0, deliveries.output
    assert runner.invoke(app, ["webhooks", "rm", "Nightly", webhook["id"]], env=env).exit_code == 0
    assert (
        json.loads(runner.invoke(app, ["webhooks", "list", "Nightly", "--json"], env=env).stdout)
        == []
    )
