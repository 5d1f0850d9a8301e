"""``berrys publish`` in process (typer's CliRunner): a bundle of a finished run asked for,
approved with ``berrys approvals answer``, carried out with ``berrys publish now``, listed,
shown and downloaded; a repository outside the allowed folders refused."""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

from tests.services.runs.conftest import FAST, create_run, tasks, wait_for_status
from tests.services.runs.reviewing import ReviewingExecutor
from typer.testing import CliRunner

from berrys.cli.app import app
from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus


async def _finished_run(data_dir: Path) -> None:
    """A project "Fair" with a run a real worker completed (Markdown deliverables)."""
    settings = Settings(data_dir=data_dir, _env_file=None)
    database = Database(settings.resolved_database_url)
    try:
        async with database.transaction() as session:
            admin = await auth.get_by_email(session, email="admin@berrys.local")
            project = await projects.create(
                session, project_in=ProjectCreate(name="Fair"), user=admin
            )
        run = await create_run(
            database, SimpleNamespace(id=project.id), tasks("brief"), actor_id=admin.id
        )
        executor = ReviewingExecutor(settings.workspaces_dir)
        worker = runs.Worker(database, executor, hooks=runs.HOOKS, config=FAST)
        working = asyncio.create_task(worker.run())
        await wait_for_status(database, run.id, RunStatus.COMPLETED)
        worker.stop()
        await asyncio.wait_for(working, 10)
    finally:
        await database.dispose()


def test_publish_a_bundle_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    runner = CliRunner()
    env = {
        "BERRYS_DATA_DIR": str(data_dir),
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
        "BERRYS_PUBLISH_GIT_ROOTS": json.dumps([str(tmp_path / "repos")]),
        "NO_COLOR": "1",
    }
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    created = runner.invoke(
        app,
        ["user", "create", "--email", "admin@berrys.local", "--role", "admin"],
        input="correct horse battery\n",
        env=env,
    )
    assert created.exit_code == 0, created.output
    asyncio.run(_finished_run(data_dir))

    outside = runner.invoke(app, ["publish", "git", "Fair", "--repository", str(tmp_path)], env=env)
    assert outside.exit_code == 1
    assert "BERRYS_PUBLISH_GIT_ROOTS" in outside.output
    asked = runner.invoke(app, ["publish", "bundle", "Fair", "--json"], env=env)
    assert asked.exit_code == 0, asked.output
    publication = json.loads(asked.stdout)
    assert publication["status"] == "PENDING_APPROVAL"
    answered = runner.invoke(
        app, ["approvals", "answer", publication["interaction_id"], "--approve"], env=env
    )
    assert answered.exit_code == 0, answered.output
    done = runner.invoke(app, ["publish", "now"], env=env)
    assert "Carried out 1 publication." in done.output

    listed = runner.invoke(app, ["publish", "list", "Fair"], env=env)
    assert "PUBLISHED" in listed.output
    assert "BUNDLE" in listed.output
    shown = runner.invoke(app, ["publish", "show", "Fair", publication["id"]], env=env)
    assert "brief.md" in shown.output
    saved = tmp_path / "fair.zip"
    downloaded = runner.invoke(
        app, ["publish", "download", "Fair", publication["id"], "-o", str(saved)], env=env
    )
    assert downloaded.exit_code == 0, downloaded.output
    assert "files/brief.md" in zipfile.ZipFile(saved).namelist()
