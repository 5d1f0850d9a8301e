"""``berrys review list|accept|edit|send-back`` against a migrated SQLite file whose run
ended COMPLETED_WITH_REVIEW."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path

from tests.services.runs.conftest import FAST, tasks, wait_for_status
from tests.services.runs.reviewing import ReviewingExecutor
from typer.testing import CliRunner

from berrys.cli.app import app
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserCreate, UserRole
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus
from berrys.services.runs.engine.worker import Worker

EMAIL = "ops@example.com"
TODOS = "4 TODOs for a person"


async def _prepare(data_dir: Path) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """A run of three tasks whose drafts all need review, executed to its end."""
    database = Database(f"sqlite+aiosqlite:///{data_dir / 'berrys.db'}")
    try:
        await migrate.upgrade(database)
        async with database.transaction() as session:
            user = await auth.create_user(
                session,
                user_in=UserCreate.model_validate(
                    {"email": EMAIL, "password": "long enough pw", "role": UserRole.ADMIN}
                ),
                actor_id=None,
            )
            viewer = UserCreate.model_validate(
                {"email": "viewer@example.com", "password": "long enough pw", "role": "VIEWER"}
            )
            await auth.create_user(session, user_in=viewer, actor_id=None)
            project = await projects.create(
                session, project_in=ProjectCreate(name="Bakery launch"), user=user
            )
            reasons = {"review": [TODOS]}
            run = await runs.create(
                session,
                project_id=project.id,
                tasks=tasks(
                    "checklist",
                    "timeline",
                    "announcement",
                    **dict.fromkeys(("checklist", "timeline", "announcement"), reasons),
                ),
                actor_id=user.id,
            )
        worker = Worker(
            database, ReviewingExecutor(data_dir / "workspaces"), hooks=runs.HOOKS, config=FAST
        )
        running = asyncio.create_task(worker.run())
        try:
            ended = await wait_for_status(database, run.id, RunStatus.COMPLETED_WITH_REVIEW)
        finally:
            worker.stop()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(running, 10)
        return run.id, {task.key: task.id for task in ended.task_runs}
    finally:
        await database.dispose()


def test_review_list_accept_edit_and_send_back(tmp_path: Path) -> None:
    env = {"BERRYS_DATA_DIR": str(tmp_path), "BERRYS_LOG_LEVEL": "WARNING", "COLUMNS": "200"}
    run_id, ids = asyncio.run(_prepare(tmp_path))
    runner = CliRunner()
    me = ["--as", EMAIL]

    listed = runner.invoke(app, ["review", "list", *me], env=env)
    assert listed.exit_code == 0, listed.output
    for needle in ("3 deliverable(s) need a person", "checklist", TODOS, "Drafted offline"):
        assert needle in listed.output, needle
    assert "berrys review accept TASK_ID" in listed.output
    as_json = runner.invoke(app, ["review", "list", str(run_id), "--json", *me], env=env)
    assert as_json.exit_code == 0, as_json.output
    items = json.loads(as_json.output)
    assert {item["key"] for item in items} == {"checklist", "timeline", "announcement"}
    assert all(item["reasons"] == [TODOS] and item["offline"] for item in items)

    # A viewer sees nothing to decide on (the project is not theirs).
    viewer = runner.invoke(
        app, ["review", "accept", str(ids["checklist"]), "--as", "viewer@example.com"], env=env
    )
    assert viewer.exit_code == 1
    assert "No task" in viewer.output

    # A unique prefix of the id is enough.
    accepted = runner.invoke(app, ["review", "accept", str(ids["checklist"])[:8], *me], env=env)
    assert accepted.exit_code == 0, accepted.output
    assert "checklist is final" in accepted.output
    assert "Run COMPLETED_WITH_REVIEW — project" in accepted.output
    assert "2 more need review" in accepted.output
    again = runner.invoke(app, ["review", "accept", str(ids["checklist"]), *me], env=env)
    assert again.exit_code == 1
    assert "No task" in again.output

    mine = tmp_path / "timeline.md"
    mine.write_text("# Timeline\n\nOpening day: 1 May.\n", encoding="utf-8")
    edited = runner.invoke(
        app, ["review", "edit", str(ids["timeline"]), str(mine), "--json", *me], env=env
    )
    assert edited.exit_code == 0, edited.output
    result = json.loads(edited.output)
    assert result["task"]["status"] == "COMPLETED"
    assert result["review"]["needs_review"] == 1
    (path,) = (tmp_path / "workspaces").rglob("timeline.md")
    assert path.read_text(encoding="utf-8") == mine.read_text(encoding="utf-8")
    assert result["task"]["output"]["text"] == mine.read_text(encoding="utf-8")

    sent = runner.invoke(
        app,
        ["review", "send-back", str(ids["announcement"]), "-f", "Name the bakery", *me],
        env=env,
    )
    assert sent.exit_code == 0, sent.output
    assert "goes back to its agent" in sent.output
    assert "Run RUNNING" in sent.output
    assert f"berrys run --resume {run_id}" in sent.output
    assert "Nothing needs review" in runner.invoke(app, ["review", "list", *me], env=env).output

    missing = runner.invoke(app, ["review", "send-back", str(ids["announcement"]), *me], env=env)
    assert missing.exit_code == 2  # --feedback is required


class _FirstFinal(ReviewingExecutor):
    """Every task's draft needs a person but the first one to run: offline drafts with TODOs."""

    drafted = 0

    async def execute(self, ctx):  # type: ignore[no-untyped-def]
        outcome = await super().execute(ctx)
        self.drafted += 1
        if self.drafted > 1:
            outcome.review_reasons = [
                "Offline draft from the event catalogue; 4 TODOs for a person"
            ]
        return outcome


def test_berrys_run_ends_with_the_review_summary(tmp_path: Path, monkeypatch) -> None:
    from berrys.services.pipeline import _runtime

    monkeypatch.setattr(
        _runtime,
        "default_executor",
        lambda settings, database, **parts: _FirstFinal(settings.workspaces_dir),
    )
    env = {
        "BERRYS_DATA_DIR": str(tmp_path),
        "BERRYS_LOG_LEVEL": "WARNING",
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
        "COLUMNS": "200",
    }
    runner = CliRunner()
    description = "Write a launch plan and announcement for a neighbourhood bakery's new website"
    result = runner.invoke(app, ["run", description, "--approve", "auto"], env=env)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Run COMPLETED — project COMPLETED" not in text
    assert "Run COMPLETED_WITH_REVIEW — project IN_PROGRESS" in text
    for needle in (
        "deliverables final",
        "need a person",
        "NEEDS_REVIEW",
        "4 TODOs for a person",
        "BERRYS_OPENAI_BASE_URL",
        "berrys review accept TASK_ID",
    ):
        assert needle in text, needle

    as_json = runner.invoke(app, ["run", description, "--approve", "auto", "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    outcome = json.loads(as_json.output)
    review = outcome["review"]
    tasks_ = outcome["run"]["task_runs"]
    assert outcome["run"]["status"] == "COMPLETED_WITH_REVIEW"
    assert outcome["project_status"] == "IN_PROGRESS"
    assert review["final"] == 1
    assert review["needs_review"] == len(tasks_) - 1 == len(review["tasks"])
    assert review["offline_drafts"] == review["needs_review"]
    assert {t["status"] for t in tasks_} == {"COMPLETED", "NEEDS_REVIEW"}
    assert any("BERRYS_OPENAI_BASE_URL" in hint for hint in review["make_final"])
