"""The project page in a real browser (Debian's Chromium) against a real `berrys serve`: a
task edited in place with the keyboard (a refused estimate said next to its field, then
saved, the Gantt chart redrawn), an agent renamed, an artifact read and downloaded, and the
Gantt chart of a 100-task plan. Screenshots go to tests/e2e/screenshots/ (30-*)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

pytest.importorskip("playwright", reason="Playwright for Python is not installed (dev extra)")
from playwright.sync_api import APIRequestContext, Page, expect
from tests.e2e.processes import berrys_env, serving
from tests.e2e.test_dashboard import (  # noqa: F401  (fixtures used by name)
    PHONE,
    Live,
    _clean_tables,
    _log_in,
    _shot,
    _wait_for_run,
    browser,
    page,
    pytestmark,
)

DESCRIPTION = "A website for my bakery with a menu page and online orders"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One `berrys serve` for this module, on a fresh data directory (offline drafts)."""
    data = tmp_path_factory.mktemp("project-page")
    env = berrys_env(data, BERRYS_LOCAL_MODEL_ENABLED="false")
    with serving(data, env=env) as server:
        match = re.search(r"Email: (\S+)\s+Password: (\S+)", server.output())
        assert match, server.output()
        yield Live(server.url, *match.groups())


def _bearer(request: APIRequestContext, live: Live) -> dict[str, str]:
    login = request.post(
        f"{live.url}/api/v1/auth/login", data={"email": live.email, "password": live.password}
    )
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _api(request: APIRequestContext, live: Live, bearer: dict, method: str, path: str, **data):  # type: ignore[no-untyped-def]
    # Generous: the first team generation loads the embedder on a busy machine.
    response = request.fetch(
        f"{live.url}/api/v1{path}", method=method, headers=bearer, timeout=180_000, **data
    )
    assert response.ok, f"{method} {path}: {response.status} {response.text()}"
    return response.json()


def test_edit_a_task_and_an_agent_and_read_an_artifact(page: Page, live: Live) -> None:  # noqa: F811
    _log_in(page, live)
    bearer = _bearer(page.request, live)
    project = _api(
        page.request,
        live,
        bearer,
        "POST",
        "/projects",
        data={"name": "Bakery Site", "description": DESCRIPTION},
    )
    base = f"/projects/{project['id']}"
    _api(page.request, live, bearer, "POST", f"{base}/agents/generate", data={})
    _api(page.request, live, bearer, "POST", f"{base}/plans", data={})
    # Offline, each task's deliverable is a draft with TODOs: the run ends with drafts for a
    # person to review, and every task has left its artifact.
    run = _api(
        page.request,
        live,
        bearer,
        "POST",
        f"{base}/runs",
        data={"options": {"risk_approval": False}},
    )
    assert _wait_for_run(page, live, bearer, run["id"]) in ("COMPLETED", "COMPLETED_WITH_REVIEW")

    page.goto(f"{live.url}{base}")
    expect(page.locator("#project-status")).to_have_text(re.compile("IN_PROGRESS|COMPLETED"))
    plan = _api(page.request, live, bearer, "GET", f"{base}/plans/current")
    ordered = sorted(plan["tasks"], key=lambda task: task["position"])
    second = ordered[1]
    row = page.locator(f"#task-{second['id']}")

    # With the keyboard only: the row's Edit link, the form with its name focused.
    edit = page.get_by_role("link", name=f"Edit task {second['name']}")
    edit.focus()
    page.keyboard.press("Enter")
    name = page.get_by_label("Name", exact=True)
    expect(name).to_be_focused()
    name.press("Control+a")
    page.keyboard.type("Bake the launch cake")
    estimate = row.get_by_label("Estimate (working hours)")
    estimate.fill("0")
    for label in ("Optimistic (hours, optional)", "Pessimistic (hours, optional)"):
        row.get_by_label(label).fill("")
    estimate.press("Enter")
    error = row.locator(".error", has_text="greater than 0")
    expect(error).to_be_visible()
    expect(estimate).to_have_attribute("aria-invalid", "true")
    expect(estimate).to_be_focused()  # the keyboard is back where the mistake is
    expect(page.get_by_label("Name", exact=True)).to_have_value("Bake the launch cake")
    _shot(page, "30-project-task-refused")

    row.get_by_label("Estimate (working hours)").fill("6")
    first_box = row.get_by_role("checkbox", name=ordered[0]["name"])
    if not first_box.is_checked():
        first_box.check()
    row.get_by_role("button", name="Save task").click()
    expect(row.get_by_role("status")).to_have_text("Saved")
    expect(row).to_contain_text("Bake the launch cake")
    expect(row.locator("td.num")).to_have_text("6")
    expect(row).to_contain_text(ordered[0]["name"])
    # The chart followed without a reload: its bar and label carry the new name.
    expect(page.locator("#plan-chart .task-label", has_text="Bake the launch cake")).to_have_count(
        1
    )
    expect(page.get_by_role("link", name="Edit task Bake the launch cake")).to_be_focused()
    _shot(page, "31-project-task-saved")
    saved = _api(page.request, live, bearer, "GET", f"{base}/plans/current")
    task = next(t for t in saved["tasks"] if t["id"] == second["id"])
    assert (task["name"], task["estimate_hours"]) == ("Bake the launch cake", 6.0)

    # An agent renamed in place.
    agent = _api(page.request, live, bearer, "GET", f"{base}/agents")["items"][0]
    page.get_by_role("link", name=f"Edit agent {agent['name']}").click()
    agent_row = page.locator(f"#agent-{agent['id']}")
    agent_row.get_by_label("Name", exact=True).fill("Head Baker")
    agent_row.get_by_role("button", name="Save agent").click()
    expect(agent_row.get_by_role("status")).to_have_text("Saved")
    expect(agent_row).to_contain_text("Head Baker")

    # A reload shows what was saved; the artifacts, then one read and downloaded.
    page.reload()
    expect(page.locator(f"#task-{second['id']}")).to_contain_text("Bake the launch cake")
    artifacts = page.locator("#artifacts tbody tr")
    expect(artifacts.first).to_be_visible()
    assert artifacts.count() >= len(ordered)
    _shot(page, "32-project-page")
    first = artifacts.first
    title = first.locator("td").first.get_by_role("link").inner_text()
    with page.expect_download() as downloaded:
        first.get_by_role("link", name=re.compile("^Download ")).click()
    assert downloaded.value.suggested_filename.endswith((".md", ".csv", ".json", ".ics", ".xlsx"))
    first.get_by_role("link", name=f"Read {title}").click()
    expect(page.locator("main > h1")).to_have_text(title)
    expect(page.locator(".markdown, pre.draft").first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Download "))).to_be_visible()
    _shot(page, "33-artifact")

    # Phone-sized, the page with its tables scrolls only inside them, never sideways.
    page.set_viewport_size(PHONE)
    page.goto(f"{live.url}{base}")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the project page scrolls sideways ({width}px)"
    _shot(page, "phone-project-artifacts")


def test_a_hundred_task_plan_shows_as_a_gantt_chart(page: Page, live: Live, browser) -> None:  # noqa: F811
    _log_in(page, live)
    bearer = _bearer(page.request, live)
    project = _api(page.request, live, bearer, "POST", "/projects", data={"name": "Big plan"})
    plan = _api(
        page.request,
        live,
        bearer,
        "POST",
        f"/projects/{project['id']}/plans",
        data={"generate": False, "start_at": "2026-03-02T09:00:00Z"},
    )
    ids = [
        _api(
            page.request,
            live,
            bearer,
            "POST",
            f"/plans/{plan['id']}/tasks",
            data={"name": f"Task {number:03d}", "estimate_hours": 4 + number % 5},
        )["id"]
        for number in range(100)
    ]
    for number in range(1, 100):
        for source in sorted({number - 1, number // 2} - {number}):
            _api(
                page.request,
                live,
                bearer,
                "POST",
                f"/plans/{plan['id']}/dependencies",
                data={"from_task_id": ids[source], "to_task_id": ids[number]},
            )

    page.goto(f"{live.url}/projects/{project['id']}")
    chart = page.get_by_role("img", name=re.compile(r"^Gantt chart of 100 tasks"))
    expect(chart).to_be_visible()
    expect(page.locator("#plan-chart .gantt .bar")).to_have_count(100)
    expect(page.locator("#plan-chart .gantt .bar.crit").first).to_be_visible()
    expect(page.locator("#plan-chart .task-label", has_text="Task 099")).to_have_count(1)
    expect(page.locator(".tasks-table tbody tr")).to_have_count(100)
    # The chart scrolls in its own region, reachable with the keyboard.
    region = page.get_by_role("region", name="Gantt chart (scrolls)")
    expect(region).to_have_attribute("tabindex", "0")
    _shot(page, "34-gantt-100-tasks")

    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        phone.add_cookies(page.context.cookies())
        small = phone.new_page()
        small.goto(f"{live.url}/projects/{project['id']}")
        expect(small.locator("#plan-chart .gantt .bar")).to_have_count(100)
        small.get_by_role("link", name="Edit task Task 050").click()
        expect(small.get_by_label("Name", exact=True)).to_be_focused()
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the project page scrolls sideways ({width}px)"
        _shot(small, "phone-project-task-edit")
    finally:
        phone.close()
