"""Publishing fixtures: settings whose git roots hold a temporary folder, a project of the
member's, and runs of it carried out by a real worker whose deliverables are Markdown files
in the workspace (needing a person's review when asked)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from tests.services.runs.conftest import FAST, create_run, tasks, wait_for_status
from tests.services.runs.reviewing import ReviewingExecutor

from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.publishing import service as publishing
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunOut, RunStatus
from berrys.wiring import Services

# A task name with markup: the bundle's page must show it as text.
HOSTILE = "Plan <script>alert(1)</script>"


@pytest.fixture
def git_root(tmp_path: Path) -> Path:
    root = tmp_path / "repos"
    root.mkdir()
    return root


@pytest.fixture
def services_settings(settings: Settings, git_root: Path) -> Settings:
    return settings.model_copy(update={"publish_git_roots": [git_root]})


@pytest.fixture
async def project_id(client: httpx.AsyncClient, member: Any) -> uuid.UUID:
    response = await client.post(
        "/api/v1/projects", json={"name": "Spring fair"}, headers=member.headers
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


@pytest.fixture
async def finished_run(
    database: Database, settings: Settings
) -> AsyncIterator[Callable[..., Awaitable[RunOut]]]:
    """Runs a real worker over a new run of the project until it ends; ``review``: the
    reasons the first task's draft needs a person for."""
    running: list[tuple[runs.Worker, asyncio.Task[None]]] = []

    async def _run(project_id: uuid.UUID, member: Any, review: list[str] | None = None) -> RunOut:
        specs = tasks("brief", "budget", brief={"review": review or []})
        specs[0].name = HOSTILE
        run = await create_run(database, SimpleNamespace(id=project_id), specs, actor_id=member.id)
        worker = runs.Worker(
            database, ReviewingExecutor(settings.workspaces_dir), hooks=runs.HOOKS, config=FAST
        )
        running.append((worker, asyncio.create_task(worker.run())))
        wanted = RunStatus.COMPLETED_WITH_REVIEW if review else RunStatus.COMPLETED
        return await wait_for_status(database, run.id, wanted)

    yield _run
    for worker, _ in running:
        worker.stop()
    for _, task in running:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)


def init_repository(path: Path) -> Path:
    """An empty git repository at ``path`` (real git), on ``main``."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path


@pytest.fixture
def repository(git_root: Path) -> Path:
    """A git repository with one commit on ``main``, checked out."""
    path = init_repository(git_root / "site")
    (path / "README.md").write_text("The site.\n")
    git = ["git", "-C", str(path), "-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    return path


async def publish_pass(services: Services) -> int:
    """One pass of the loop a server or worker runs; how many were carried out."""
    return await publishing.publish_due(
        services.database, services.models.secrets, services.settings
    )
