"""Every dashboard page in a real browser (Debian's Chromium) checked by axe-core: no serious
or critical violation, and every control reached with Tab shows where the focus is. A
screenshot of each page goes to tests/e2e/screenshots/ (``40-a11y-*``).

axe-core comes bundled in axe-playwright-python (the dev extra): nothing is fetched.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright", reason="Playwright for Python is not installed (dev extra)")
pytest.importorskip("axe_playwright_python", reason="axe-core for Playwright (dev extra)")
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from tests.e2e.processes import free_port
from tests.e2e.test_dashboard import CHROMIUM, _shot, browser  # noqa: F401 - the fixture
from tests.services.runs.reviewing import ReviewingExecutor

from berrys.app import create_app
from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserCreate
from berrys.services.catalogue.contracts import RiskLevel
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import DependencySpec, TaskSpec

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt chromium)"
)

PASSWORD = "correct horse battery"
BLOCKING = ("serious", "critical")
DESCRIPTION = "A website for our bakery with online orders, and a launch announcement."


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """Overrides the async autouse fixture of tests/conftest.py: these tests use their own
    server and database, and Playwright's sync API runs its own event loop."""


async def _seed(database: Database, email: str) -> dict[str, Any]:
    """An admin with a project and three runs: one waits for an approval, one completed,
    one has a draft that needs a person's review."""
    await migrate.upgrade(database)
    async with database.transaction() as session:
        user = await auth.create_user(
            session,
            user_in=UserCreate.model_validate(
                {"email": email, "password": PASSWORD, "role": "ADMIN"}
            ),
            actor_id=None,
        )
        project = await projects.create(
            session,
            project_in=ProjectCreate(name="Bakery Site", description=DESCRIPTION),
            user=user,
        )
        waiting = await runs.create(
            session,
            project_id=project.id,
            tasks=[
                TaskSpec(key="write", name="Write the checklist", spec={"tool": True}),
                TaskSpec(
                    key="launch",
                    name="Launch the shop",
                    description="Put it live. Risk: payments go to real customers.",
                    risk_level=RiskLevel.HIGH,
                ),
            ],
            dependencies=[DependencySpec(from_key="write", to_key="launch")],
            actor_id=user.id,
        )
        completed = await runs.create(
            session,
            project_id=project.id,
            tasks=[TaskSpec(key="brief", name="Write the brief", spec={"tool": True})],
            dependencies=[],
            actor_id=user.id,
        )
        reviewing = await runs.create(
            session,
            project_id=project.id,
            tasks=[
                TaskSpec(
                    key="timeline",
                    name="Draft the timeline",
                    spec={"review": ["Offline draft; 2 TODOs for a person"]},
                )
            ],
            dependencies=[],
            actor_id=user.id,
        )
    return {
        "project": project.id,
        "waiting": waiting.id,
        "completed": completed.id,
        "reviewing": reviewing.id,
    }


@contextmanager
def _serving(data_dir: Path) -> Iterator[dict[str, Any]]:
    """An in-process server (its own thread and event loop) on a seeded SQLite database."""
    port, state = free_port(), {}
    email = f"admin-{port}@example.com"
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'a11y.db'}",
        secret_key="test-secret-key-not-for-production",
        local_model_enabled=False,
        log_level="WARNING",
        _env_file=None,
    )

    async def _serve() -> None:
        database = Database(settings.resolved_database_url)
        state.update(await _seed(database, email))
        app = create_app(settings, database=database)
        app.state.run_executor = ReviewingExecutor(data_dir / "workspaces")
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
        )
        state.update(loop=asyncio.get_running_loop(), server=server)
        try:
            await server.serve()
        finally:
            await database.dispose()

    thread = threading.Thread(target=asyncio.run, args=(_serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (state.get("server") and state["server"].started):
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start in 30 s"
        time.sleep(0.05)  # the server thread binds its port
    try:
        yield {**state, "url": f"http://127.0.0.1:{port}", "email": email}
    finally:
        state["loop"].call_soon_threadsafe(setattr, state["server"], "should_exit", True)
        thread.join(15)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with _serving(tmp_path_factory.mktemp("a11y")) as served:
        yield served


def _violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    found = Axe().run(page, options={"resultTypes": ["violations"]}).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in found
        if v["impact"] in BLOCKING
    ]


def _unfocused(page: Page, limit: int = 80) -> list[str]:
    """Tab through the page: each control that takes the focus without a visible outline
    (or box shadow), and whether Tab got stuck. Stops where the focus comes back round."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    seen: list[str] = []
    bad: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
              const e = document.activeElement;
              if (!e || e === document.body) return null;
              const s = getComputedStyle(e);
              const shown = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
                || s.boxShadow !== 'none';
              const name = (e.getAttribute('aria-label') || e.innerText || e.value || e.name
                || e.id || '').trim().slice(0, 40);
              return {key: e.tagName + '|' + (e.id || '') + '|' + name
                      + '|' + Array.from(document.querySelectorAll('*')).indexOf(e),
                      label: e.tagName.toLowerCase() + ' ' + JSON.stringify(name), shown};
            }"""
        )
        if focused is None or focused["key"] in seen:
            break
        seen.append(focused["key"])
        if not focused["shown"]:
            bad.append(focused["label"])
    assert seen, "Tab reached nothing on the page"
    return bad


def _check(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    _shot(page, f"40-a11y-{name}")
    violations = _violations(page)
    assert not violations, f"{name}:\n" + "\n".join(violations)
    unfocused = _unfocused(page)
    assert not unfocused, f"{name}: no visible focus on " + ", ".join(unfocused)


def _log_in(page: Page, site: dict[str, Any]) -> None:
    page.goto(f"{site['url']}/login")
    page.get_by_label("Email").fill(site["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_every_page_passes_axe_and_shows_its_focus(browser: Browser, site: dict) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    url = site["url"]
    try:
        page.goto(url)
        _check(page, "home-first-visit")
        page.goto(f"{url}/login")
        _check(page, "login")
        _log_in(page, site)
        bearer = _bearer(page, site)
        _prepare_project(page, url, bearer, site["project"])

        for name, path in (
            ("home", "/"),
            ("projects", "/projects"),
            ("project", f"/projects/{site['project']}"),
        ):
            page.goto(f"{url}{path}")
            _check(page, name)

        page.goto(f"{url}/runs/{site['waiting']}")
        expect(page.locator("#run-status")).to_have_text("AWAITING_INPUT")
        _check(page, "run-waiting")
        page.goto(f"{url}/runs/{site['completed']}")
        expect(page.locator("#run-status")).to_have_text("COMPLETED")
        # The traces open, with their prompts, responses and results.
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        _check(page, "run-completed")
        page.goto(f"{url}/runs/{site['reviewing']}")
        expect(page.locator("#run-status")).to_have_text("COMPLETED_WITH_REVIEW")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        _check(page, "run-needs-review")

        for name, path in (
            ("approvals", "/approvals"),
            ("alerts", "/alerts"),
            ("chat", "/chat"),
            ("models", "/models"),
            ("audit", "/audit"),
            ("settings", "/settings"),
        ):
            page.goto(f"{url}{path}")
            _check(page, name)
        page.goto(f"{url}/tools")
        _check(page, "tools")
        page.get_by_role("button", name="Test clock").click()
        expect(page.locator("#test-result")).to_contain_text("clock failed")
        _check(page, "tools-tested")
        page.goto(f"{url}/chat")
        page.get_by_role("button", name="New conversation").click()
        expect(page.get_by_label("Message to Berry")).to_be_visible()
        _check(page, "chat-conversation")
    finally:
        context.close()


def _bearer(page: Page, site: dict[str, Any]) -> dict[str, str]:
    login = page.request.post(
        f"{site['url']}/api/v1/auth/login", data={"email": site["email"], "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _prepare_project(page: Page, url: str, bearer: dict[str, str], project: uuid.UUID) -> None:
    """A team, a plan and an MCP server, as a user makes them (REST), so the project and
    tools pages show everything they can."""
    for path, body in (
        (f"/api/v1/projects/{project}/agents/generate", {}),
        (f"/api/v1/projects/{project}/plans", {"methodology": "CRITICAL_PATH"}),
        ("/api/v1/mcp-servers", {"name": "clock", "command": "python3", "args": ["-m", "x"]}),
    ):
        # The team and the plan take seconds (the embedder loads once): bounded at 2 minutes.
        made = page.request.post(f"{url}{path}", data=body, headers=bearer, timeout=120_000)
        assert made.ok, made.text()
