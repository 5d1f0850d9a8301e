"""The dashboard in a real browser (Debian's Chromium, headless) against a real `berrys serve`:
log in with the printed password, chat a project into being with a team and a plan, find it
in the list, move it along its lifecycle, and see a forged POST refused; accept and edit the
drafts of a run that need a person. Screenshots of the main pages, wide and phone-sized, go
to tests/e2e/screenshots/."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="Playwright for Python is not installed (dev extra)")
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.e2e.processes import berrys_env, free_port, serving
from tests.services.runs.conftest import deps, tasks
from tests.services.runs.reviewing import ReviewingExecutor

from berrys.app import create_app
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserCreate
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
BAKERY = "Create a project called Bakery Site to build a website for my bakery"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt chromium)"
)


LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, for this module only: Playwright's sync API keeps an event loop
    running while it is started, so it must be stopped before the async tests that follow."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """Overrides the async autouse fixture of tests/conftest.py: these tests use their own
    server and database, and Playwright's sync API runs its own event loop."""


class Live:
    def __init__(self, url: str, email: str, password: str) -> None:
        self.url, self.email, self.password = url, email, password


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One `berrys serve` for the module, on a fresh data directory."""
    data = tmp_path_factory.mktemp("dashboard")
    # No bundled llama.cpp model: its native library dies with SIGILL on some CPUs, and the
    # browser tests are about the dashboard, not about a local model.
    env = berrys_env(data, BERRYS_LOCAL_MODEL_ENABLED="false")
    with serving(data, env=env) as server:
        match = re.search(r"Email: (\S+)\s+Password: (\S+)", server.output())
        assert match, server.output()
        yield Live(server.url, *match.groups())


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _log_in(page: Page, live: Live) -> None:
    """With the keyboard only: the login form is usable without a mouse."""
    page.goto(f"{live.url}/login")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(live.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(live.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def _wait_for_run(page: Page, live: Live, bearer: dict[str, str], run_id: str) -> str:
    """Wait (up to 90 s) until the run ends or waits for a person: its status, or "waiting"."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        run = page.request.get(f"{live.url}/api/v1/runs/{run_id}", headers=bearer).json()
        if run["status"] in ("COMPLETED", "COMPLETED_WITH_REVIEW", "FAILED", "CANCELLED"):
            return run["status"]
        pending = page.request.get(
            f"{live.url}/api/v1/interactions?status=PENDING&run_id={run_id}", headers=bearer
        ).json()
        if run["status"] == "AWAITING_INPUT" and pending["total"]:
            return "waiting"
        page.wait_for_timeout(250)  # the state is polled; the deadline bounds the wait
    raise AssertionError(f"run {run_id} neither ended nor asked for anything in 90 s")


def _nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def _say(page: Page, text: str, count: int) -> None:
    box = page.get_by_label("Message to Berry")
    box.fill(text)
    box.press("Enter")
    expect(page.locator("li.msg.assistant[data-done=true]")).to_have_count(count, timeout=90_000)


def test_the_loop_in_a_browser(page: Page, live: Live) -> None:
    page.goto(live.url)
    expect(page.get_by_role("heading", name="Welcome to Berrys")).to_be_visible()
    expect(page.get_by_text("one-time password")).to_be_visible()
    _shot(page, "01-home-first-visit")

    _log_in(page, live)
    expect(
        page.get_by_role("heading", name="Start here: tell Berry what you want to build")
    ).to_be_visible()
    _shot(page, "02-home-fresh-install")

    # Chat: the reply streams in; the action card links to what was created.
    _nav(page, "Chat")
    page.get_by_role("button", name="New conversation").click()
    expect(page.get_by_label("Message to Berry")).to_be_visible()
    _say(page, BAKERY, 1)
    created = page.locator(".action-card[data-type=CREATE_PROJECT][data-status=COMPLETED]")
    expect(created).to_have_count(1)
    expect(created.get_by_role("link", name="Bakery Site")).to_be_visible()

    _say(page, "generate the team", 2)
    expect(
        page.locator(".action-card[data-type=GENERATE_TEAM][data-status=COMPLETED]")
    ).to_have_count(1)
    _say(page, "now plan it", 3)
    expect(page.locator(".action-card[data-type=PLAN][data-status=COMPLETED]")).to_have_count(1)
    _say(page, "how is it going?", 4)
    expect(page.locator("li.msg.assistant").last).to_contain_text('"Bakery Site" is DRAFT')
    # The project asks for plan approval before a run (set over REST: the dashboard has no
    # metadata editor), so the run deterministically waits for a person before any task.
    project_path = created.get_by_role("link", name="Bakery Site").get_attribute("href")
    login = page.request.post(
        f"{live.url}/api/v1/auth/login", data={"email": live.email, "password": live.password}
    )
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    patched = page.request.patch(
        f"{live.url}/api/v1{project_path}",
        data={"metadata": {"require_plan_approval": True}},
        headers=bearer,
    )
    assert patched.ok, patched.text()

    _say(page, "start it", 5)
    expect(page.locator(".action-card[data-type=START_RUN]").last).to_have_attribute(
        "data-status", "NEEDS_CONFIRMATION"
    )
    _say(page, "yes", 6)
    started = page.locator(".action-card[data-type=START_RUN][data-status=COMPLETED]")
    expect(started).to_have_count(1)
    _shot(page, "03-chat")

    # The run, live: it waits for the plan approval; answering it in the inbox (another tab)
    # lets it go on, and the first tab sees the status change over SSE without a reload.
    started.get_by_role("link", name="Follow the run").click()
    expect(page.locator("#run-status")).to_have_text("AWAITING_INPUT", timeout=60_000)
    expect(page.get_by_text("This run waits for an approval")).to_be_visible()
    _shot(page, "04-run-waiting")
    run_id = page.url.rsplit("/", 1)[1]
    inbox = page.context.new_page()
    inbox.goto(f"{live.url}/approvals")
    expect(inbox.locator("#approval-count")).to_have_text("1")
    _shot(inbox, "05-approvals")
    # The plan approval, then whatever else the run asks (a HIGH-risk task asks too), each
    # answered in the inbox while the run page stays open.
    for answered in range(6):
        inbox.goto(f"{live.url}/approvals")
        approval = inbox.locator("section.interaction").first
        approval.get_by_label("Comment (optional)").fill(f"Looks good to me ({answered + 1})")
        approval.get_by_role("button", name="Approve").click()
        expect(inbox.get_by_text("Approved")).to_be_visible()
        state = _wait_for_run(inbox, live, bearer, run_id)
        if state != "waiting":
            break
    inbox.close()
    # COMPLETED when every deliverable is final, COMPLETED_WITH_REVIEW when drafts need a
    # person (offline drafts with TODOs); FAILED (with the reason on the page) when this
    # installation has no model for TASK requests. Either way it arrived live: this page was
    # never reloaded.
    expect(page.locator("#run-status")).to_have_text(state, timeout=30_000)
    if state == "FAILED":
        expect(page.locator("td .error").first).to_be_visible()
    else:
        # The task table (the artifacts below may hold tables of their own).
        done = ", ".join(
            f"#run-live tbody tr[data-status={status}]" for status in ("COMPLETED", "NEEDS_REVIEW")
        )
        expect(page.locator(done)).to_have_count(page.locator("#run-live tbody tr").count())
    _shot(page, "06-run-completed")
    if state == "COMPLETED_WITH_REVIEW":
        # The drafts that need a person arrived with the run's end, each with its reasons;
        # accepting one makes it final.
        drafts = page.locator("article.review-task")
        expect(drafts.first.locator(".reasons li").first).to_be_visible()
        waiting = drafts.count()
        _shot(page, "06b-run-needs-review")
        drafts.first.get_by_role("button", name="Accept as final").click()
        expect(page.get_by_role("status").filter(has_text="Accepted")).to_be_visible()
        expect(page.locator("article.review-task")).to_have_count(waiting - 1)

    # The project page: team, plan with its Gantt chart, lifecycle buttons.
    page.goto(f"{live.url}/projects")
    page.get_by_role("link", name="Bakery Site").click()
    expect(page.get_by_role("heading", name=re.compile("Bakery Site"))).to_be_visible()
    expect(page.locator("p.description")).to_have_text("build a website for my bakery")
    expect(page.locator("#team table tbody tr").first).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Gantt chart"))).to_be_visible()
    expect(page.locator(".gantt .bar.crit").first).to_be_visible()
    # The project, made in chat, followed its run: IN_PROGRESS while drafts wait for a
    # person, COMPLETED when every deliverable is final, REVIEW when the run failed.
    ended = page.request.get(f"{live.url}/api/v1/runs/{run_id}", headers=bearer).json()
    followed = {
        "COMPLETED_WITH_REVIEW": "IN_PROGRESS",
        "COMPLETED": "COMPLETED",
        "FAILED": "REVIEW",
    }[ended["status"]]
    expect(page.locator("#project-status")).to_have_text(followed)
    _shot(page, "07-project")

    # Moved by hand along its lifecycle: paused and resumed (or back from review).
    lifecycle = page.locator("#lifecycle .actions button")
    if followed == "IN_PROGRESS":
        expect(lifecycle).to_have_text(["Cancelled", "Completed", "Paused", "Review"])
        page.get_by_role("button", name="Paused", exact=True).click()
        expect(page.locator("#project-status")).to_have_text("PAUSED")
        expect(lifecycle).to_have_text(["Cancelled", "In Progress"])
    if followed != "COMPLETED":
        page.get_by_role("button", name="In Progress").click()
        followed = "IN_PROGRESS"
    expect(page.locator("#project-status")).to_have_text(followed)
    _shot(page, "08-project-in-progress")

    # The list, with its filters (HTMX swaps the rows in place).
    _nav(page, "Projects")
    row = page.get_by_role("row", name=re.compile("Bakery Site"))
    expect(row).to_contain_text(followed)
    page.get_by_label("Status").select_option("DRAFT")
    expect(page.get_by_text("No projects match these filters")).to_be_visible()
    page.get_by_label("Status").select_option(followed)
    expect(row).to_be_visible()
    _shot(page, "09-projects")

    _nav(page, "Audit")
    expect(page.get_by_text("Hash chain: intact")).to_be_visible()
    _shot(page, "10-audit")
    _nav(page, "Settings")
    page.get_by_label("Name").fill("browser test")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_label("Your new token")).to_have_value(re.compile("^brs_"))
    _shot(page, "11-settings")
    _nav(page, "Tools")
    _shot(page, "12-tools")
    _nav(page, "Models")
    expect(page.get_by_role("heading", name="Models and usage")).to_be_visible()
    _shot(page, "13-models")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.goto(f"{live.url}/projects")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_a_forged_post_is_refused_and_changes_nothing(page: Page, live: Live) -> None:
    _log_in(page, live)
    page.goto(f"{live.url}/projects")
    page.get_by_label("Name").fill("Guarded")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator("#project-status")).to_have_text("DRAFT")
    project_url = page.url

    # A form whose token was stripped, submitted from the page itself.
    page.evaluate(
        "document.querySelectorAll('#lifecycle input[name=csrf_token]')"
        ".forEach(input => input.remove())"
    )
    page.get_by_role("button", name="Planning", exact=True).click()
    expect(page.get_by_text("CSRF token validation failed")).to_be_visible()
    assert page.locator("h1").inner_text() == "Forbidden"

    # A POST from outside any form (cookies sent, no token), and one with a made-up token.
    for data in ({"to_status": "PLANNING"}, {"to_status": "PLANNING", "csrf_token": "f" * 64}):
        response = page.request.post(f"{project_url}/transitions", form=data, max_redirects=0)
        assert response.status == 403
        assert "CSRF token validation failed" in response.text()

    page.goto(project_url)
    expect(page.locator("#project-status")).to_have_text("DRAFT")
    expect(page.locator("details summary")).to_have_text("History (1)")


def test_phone_sized_screens(browser: Browser, live: Live) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        _log_in(page, live)
        for name, path in (("home", "/"), ("projects", "/projects"), ("chat", "/chat")):
            page.goto(f"{live.url}{path}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} scrolls sideways on a phone ({width}px)"
            _shot(page, f"phone-{name}")
        _nav(page, "Projects")
        page.get_by_role("link", name="Bakery Site").first.click()
        expect(page.locator("#project-status")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
        _shot(page, "phone-project")
    finally:
        context.close()


@contextmanager
def _serving_drafts(settings, tmp_path: Path, executor) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    """An in-process server (its own thread and event loop) whose run executes with
    ``executor``: a member's run of three tasks, two of whose drafts need a person and one
    that holds until released. Yields url, email, password, run id and the server's loop."""
    port, state = free_port(), {}
    email, password = f"reviewer-{port}@example.com", "correct horse battery"

    async def _serve() -> None:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'review.db'}")
        await migrate.upgrade(database)
        async with database.transaction() as session:
            user = await auth.create_user(
                session,
                user_in=UserCreate.model_validate(
                    {"email": email, "password": password, "role": "MEMBER"}
                ),
                actor_id=None,
            )
            project = await projects.create(
                session, project_in=ProjectCreate(name="Bakery launch"), user=user
            )
            specs = {
                "Launch checklist": {"review": ["Offline draft; 4 TODOs for a person"]},
                "Timeline": {"review": ["quality gate: a date the brief never gave"]},
                "Announcement": {"hold": True},
            }
            run = await runs.create(
                session,
                project_id=project.id,
                tasks=tasks(*specs, **specs),
                dependencies=deps("Launch checklist>Announcement"),
                actor_id=user.id,
            )
        app = create_app(settings, database=database)
        app.state.run_executor = executor
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
        )
        state.update(run=run.id, loop=asyncio.get_running_loop(), server=server)
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
        yield {**state, "url": f"http://127.0.0.1:{port}", "email": email, "password": password}
    finally:
        state["loop"].call_soon_threadsafe(setattr, state["server"], "should_exit", True)
        thread.join(15)


def test_drafts_that_need_review_arrive_live_and_are_decided_in_a_browser(
    browser: Browser, settings, tmp_path: Path
) -> None:
    """The drafts that need a person appear on the run page the moment the run ends (no
    reload), with their reasons; one is accepted, the other edited, and the run COMPLETED."""
    executor = ReviewingExecutor(settings.workspaces_dir)
    with _serving_drafts(settings, tmp_path, executor) as served:
        url = served["url"]
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        try:
            page.goto(f"{url}/login")
            page.get_by_label("Email").fill(served["email"])
            page.get_by_label("Password").fill(served["password"])
            page.keyboard.press("Enter")
            expect(page.get_by_role("button", name="Log out")).to_be_visible()
            run_url = f"{url}/runs/{served['run']}"
            page.goto(run_url)
            expect(page.locator("#run-status")).to_have_text("RUNNING")
            served["loop"].call_soon_threadsafe(executor.release, "Announcement")
            expect(page.locator("#run-status")).to_have_text("COMPLETED_WITH_REVIEW")
            drafts = page.locator("article.review-task")
            expect(drafts).to_have_count(2)
            expect(drafts.first.locator(".reasons li")).to_have_text(
                "Offline draft; 4 TODOs for a person"
            )
            _shot(page, "14-run-needs-review")

            phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            try:
                phone.add_cookies(context.cookies())
                small = phone.new_page()
                small.goto(run_url)
                expect(small.locator("article.review-task")).to_have_count(2)
                width = small.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], f"the run page scrolls sideways ({width}px)"
                _shot(small, "phone-run-needs-review")
            finally:
                phone.close()

            drafts.first.get_by_role("button", name="Accept as final").click()
            expect(page.get_by_role("status").filter(has_text="Accepted")).to_be_visible()
            expect(drafts).to_have_count(1)
            last = drafts.first
            last.get_by_text("Edit it yourself").click()
            last.get_by_label(re.compile("Your version")).fill("# Timeline\n\nOpening: TBC.\n")
            last.get_by_role("button", name="Save as final").click()
            expect(page.locator("#run-status")).to_have_text("COMPLETED")
            expect(drafts).to_have_count(0)
        finally:
            context.close()


def test_the_api_docs_render_from_bundled_assets(page: Page, live: Live) -> None:
    """Swagger UI and ReDoc render under their strict policy, asking no other host."""
    outside: list[str] = []
    blocked: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if r.url.startswith("http") else 0)
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else 0)
    page.goto(f"{live.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    assert page.locator(".opblock").count() > 100
    assert not blocked, blocked
    _shot(page, "20-api-docs")
    page.goto(f"{live.url}/redoc")
    # ReDoc parses the whole document before it shows anything: seconds on a busy machine.
    expect(page.get_by_role("heading", name="Berrys").first).to_be_visible(timeout=60_000)
    # ReDoc's "by Redocly" logo is the one thing it asks elsewhere; the policy blocks it.
    assert all(url.startswith(live.url) or "redoc.ly" in url for url in outside), outside
