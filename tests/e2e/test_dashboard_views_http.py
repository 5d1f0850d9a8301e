"""The dashboard's views over HTTP, in process (issue 15): the API docs from bundled assets,
the Gantt chart, the run page per task, starting a run while one waits, empty states."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import uuid
from html.parser import HTMLParser
from pathlib import Path

from tests.e2e.test_dashboard_http import _login, _parse, _planned_project
from tests.services.runs.conftest import FAST, wait_for_status
from tests.services.runs.scripted import ScriptedExecutor

from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserRole
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import DependencySpec, RunStatus, TaskSpec
from berrys.services.runs.engine.executor import ArtifactSpec, TaskOutcome
from berrys.services.runs.engine.worker import Worker


async def test_the_api_docs_load_only_bundled_assets(client):
    for path, assets in (
        ("/docs", {"swagger-ui-bundle.js": "javascript", "swagger-ui.css": "text/css"}),
        ("/redoc", {"redoc.standalone.js": "javascript"}),
    ):
        page = await client.get(path)
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        assert "googleapis" not in page.text
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources, path
        for source in sources:
            assert source.startswith("/docs/assets/") or source == "/openapi.json", source
        for name, kind in assets.items():
            assert f"/docs/assets/{name}" in sources
            asset = await client.get(f"/docs/assets/{name}")
            assert asset.status_code == 200
            assert kind in asset.headers["content-type"]
            assert len(asset.content) > 100_000
        # The inline start-up script runs because the policy names its hash, nothing more.
        policy = page.headers["content-security-policy"]
        for body in re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL):
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-eval" not in policy
    assert "SwaggerUIBundle" in (await client.get("/docs/assets/swagger-ui-bundle.js")).text
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200


class _Svg(HTMLParser):
    """The Gantt chart's parts: bars, arrows by type, axis labels, task labels, today."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: list[dict] = []
        self.arrows: list[dict] = []
        self.ticks: list[str] = []
        self.labels: list[str] = []
        self.today = 0
        self._text: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "rect" and "bar" in classes:
            self.bars.append(attrs)
        elif tag == "path" and "dep" in classes:
            self.arrows.append(attrs)
        elif tag == "line" and "today-line" in classes:
            self.today += 1
        elif tag == "text" and ("tick-label" in classes or "task-label" in classes):
            self._text = classes[0]

    def handle_data(self, data):
        if self._text == "tick-label" and data.strip():
            self.ticks.append(data.strip())
        elif self._text == "task-label":
            self.labels.append(data.strip())

    def handle_endtag(self, tag):
        if tag in ("text", "title"):
            self._text = None if tag == "text" else self._text


def _chart(html: str) -> _Svg:
    start = html.index('<svg role="img" aria-label="Gantt chart')
    parser = _Svg()
    parser.feed(html[start : html.index("</svg>", start) + 6])
    return parser


async def test_the_gantt_chart_has_dates_labels_arrows_the_critical_path_and_today(client, member):
    token = await _login(client, member)
    url = await _planned_project(client, token)
    plan = (await client.get(f"/api/v1{url}/plans/current", headers=member.headers)).json()
    page = await client.get(url)
    chart = _chart(page.text)
    assert len(chart.bars) == len(plan["tasks"]) > 1
    assert {label.rstrip("…") for label in chart.labels} <= {
        t["name"][: len(label.rstrip("…"))] for t in plan["tasks"] for label in chart.labels
    }
    assert chart.labels[0]
    assert len(chart.arrows) == len(plan["dependencies"]) > 0
    assert {a["data-type"] for a in chart.arrows} == {d["type"] for d in plan["dependencies"]}
    assert all(a["marker-end"].startswith("url(#dep-head-") for a in chart.arrows)
    # A generated plan starts now: today's line is on the chart, dated on the axis.
    assert chart.today == 1
    assert chart.ticks
    assert all(
        re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2}$", t) for t in chart.ticks
    )
    assert any("crit" in bar["class"] for bar in chart.bars)
    assert "Critical path: " in page.text
    assert "finish to start" in page.text  # the legend


async def test_a_hundred_task_plan_stays_readable(client, member):
    created = await client.post(
        "/api/v1/projects", json={"name": "Big plan"}, headers=member.headers
    )
    project_id = created.json()["id"]
    plan = await client.post(
        f"/api/v1/projects/{project_id}/plans",
        json={"generate": False, "start_at": "2026-03-02T09:00:00Z"},
        headers=member.headers,
    )
    plan_id = plan.json()["id"]
    ids = []
    for number in range(100):
        task = await client.post(
            f"/api/v1/plans/{plan_id}/tasks",
            json={
                "name": f"Task {number:03d} with a rather long name to cut",
                "estimate_hours": 4 + number % 5,
            },
            headers=member.headers,
        )
        assert task.status_code == 201, task.text
        ids.append(task.json()["id"])
    kinds = ["FS", "SS", "FF", "SF"]
    edges = 0
    for number in range(1, 100):
        for source in {number - 1, number // 2} - {number}:
            response = await client.post(
                f"/api/v1/plans/{plan_id}/dependencies",
                json={
                    "from_task_id": ids[source],
                    "to_task_id": ids[number],
                    "type": kinds[(number + source) % 4],
                },
                headers=member.headers,
            )
            if response.status_code == 201:
                edges += 1
    token = await _login(client, member)
    assert token
    page = await client.get(f"/projects/{project_id}")
    assert page.status_code == 200
    chart = _chart(page.text)
    assert len(chart.bars) == 100
    assert len(chart.arrows) == edges > 100
    assert {a["data-type"] for a in chart.arrows} == set(kinds)
    # Fixed row height: 100 rows are tall, not squeezed; names cut to fit their gutter.
    heights = {float(bar["height"]) for bar in chart.bars}
    assert heights == {14.0}
    svg = re.search(r'<svg role="img" aria-label="Gantt chart[^>]*>', page.text).group(0)
    assert int(re.search(r'height="(\d+)"', svg).group(1)) >= 100 * 22
    assert all(len(label) <= 34 for label in chart.labels)
    assert any(label.endswith("…") for label in chart.labels)
    # Weeks or months on the axis, dated, not one tick per day for a long plan.
    assert 2 <= len(chart.ticks) <= 40
    # A plan in the past: no line for today, but the caption says where today is.
    assert chart.today == 0
    assert "after the planned finish" in page.text
    assert page.text.count('class="bar crit"') >= 1


DELIVERABLE = """# Launch checklist

| step | owner |
|---|---|
| DNS | ops |

<script>alert("x")</script> and [a link](javascript:alert(1)) and <b>bold</b>
"""


class _Drafting(ScriptedExecutor):
    """The scripted executor (a model call and a tool call per task) plus a Markdown file."""

    def __init__(self, workspace: Path) -> None:
        super().__init__()
        self.workspace = workspace

    async def execute(self, ctx) -> TaskOutcome:
        outcome = await super().execute(ctx)
        folder = self.workspace / str(ctx.task.project_id) / "runs" / str(ctx.task.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{ctx.task.key}.md"
        path.write_text(DELIVERABLE, encoding="utf-8")
        outcome.artifacts = [
            ArtifactSpec(
                name=ctx.task.name, media_type="text/markdown", content=DELIVERABLE, path=str(path)
            )
        ]
        return outcome


async def test_the_run_page_shows_each_task_its_artifact_its_trace_and_why_it_waits(
    client, database, settings, member, other_member
):
    created = await client.post("/api/v1/projects", json={"name": "Shop"}, headers=member.headers)
    project_id = created.json()["id"]
    async with database.transaction() as session:
        user = await auth.get_by_email(session, email=member.email)
        run = await runs.create(
            session,
            project_id=uuid.UUID(project_id),
            tasks=[
                TaskSpec(key="write", name="Write the checklist", spec={"tool": True}),
                TaskSpec(
                    key="launch",
                    name="Launch the shop",
                    description="Put it live. Risk: payments go to real customers.",
                    risk_level="HIGH",
                ),
            ],
            dependencies=[DependencySpec(from_key="write", to_key="launch")],
            actor_id=user.id,
        )
    worker = Worker(database, _Drafting(settings.workspaces_dir), hooks=runs.HOOKS, config=FAST)
    running = asyncio.create_task(worker.run())
    try:
        await wait_for_status(database, run.id, RunStatus.AWAITING_INPUT)
    finally:
        worker.stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(running, 10)

    await _login(client, member)
    page = await client.get(f"/runs/{run.id}")
    assert page.status_code == 200
    html = page.text
    # The approval banner: what waits, its risk and the catalogue's reason.
    banner = html[
        html.index("approval-banner") : html.index("</div>", html.index("approval-banner"))
    ]
    assert "Launch the shop" in banner
    assert "HIGH risk" in banner
    assert "Why: payments go to real customers." in banner
    # Per task: agent, model, timing, cost, status.
    detail = html[html.index('id="tasks-title"') :]
    for label in ("Agent", "Model", "Started", "Finished", "Cost", "Attempt"):
        assert f"<dt>{label}</dt>" in detail
    assert "scripted/test" in html  # who produced it (the scripted model names no model)
    assert re.search(r"\(\d+\.\d s\)", detail)
    assert "COMPLETED" in detail
    assert "AWAITING_INPUT" in detail
    # The full artifact as sanitised Markdown: a heading and a table, raw HTML escaped,
    # the javascript: link dropped.
    assert "<h1>Launch checklist</h1>" in detail
    assert "<table>" in detail
    assert "&lt;script&gt;" in detail
    assert "<script>alert" not in html
    assert "<b>bold</b>" not in detail
    assert 'href="javascript:' not in html
    # The trace, collapsed: a model call and the tool call.
    trace = re.search(r'<details class="trace">\s*<summary>Trace: 1 model call, 1 tool call', html)
    assert trace, html[html.index("Trace") - 200 : html.index("Trace") + 200]
    assert '<details class="trace" open' not in html
    assert "Tool append" in html
    fragment = await client.get(f"/runs/{run.id}/tasks")  # swapped in when the run ends
    assert fragment.status_code == 200
    assert "<h1>Launch checklist</h1>" in fragment.text
    # Download: the file as an attachment, for those who may see the run only.
    link = re.search(r'href="(/runs/[^"]+/artifacts/[^"]+)" download', html).group(1)
    download = await client.get(link)
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith('attachment; filename="write.md"')
    assert download.text == DELIVERABLE
    assert download.headers["content-type"].startswith("text/markdown")
    await client.post(
        "/logout",
        data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)},
    )
    await _login(client, other_member)
    assert (await client.get(link)).status_code == 404
    assert (await client.get(f"/runs/{run.id}")).status_code == 404
    # The same trace over REST.
    steps = await client.get(f"/api/v1/runs/{run.id}/steps", headers=member.headers)
    assert steps.status_code == 200
    kinds = [step["kind"] for step in steps.json()["items"]]
    assert kinds.count("MODEL") >= 1
    assert "TOOL" in kinds
    hidden = await client.get(f"/api/v1/runs/{run.id}/steps", headers=other_member.headers)
    assert hidden.status_code == 404


async def test_a_second_run_needs_a_second_confirmation_while_one_waits(client, member):
    token = await _login(client, member)
    url = await _planned_project(client, token, approval=True)
    page = await client.get(url)
    assert 'name="again"' not in page.text
    first = await client.post(f"{url}/runs", data={"understood": "1", "csrf_token": token})
    assert first.status_code == 303
    run = await client.get(f"/api/v1{first.headers['location']}", headers=member.headers)
    assert run.json()["status"] == "AWAITING_INPUT"

    page = await client.get(url)
    form = next(f for f in _parse(page.text).forms if "understood" in f["fields"])
    assert "again" in form["fields"]
    assert re.search(
        r'<input type="checkbox" id="again" name="again" value="1" required', page.text
    )
    assert '<label for="again">Start another run anyway</label>' in page.text
    assert "is AWAITING_INPUT" in page.text
    assert ">Start another run</button>" in page.text

    refused = await client.post(f"{url}/runs", data={"understood": "1", "csrf_token": token})
    assert refused.status_code == 409
    assert "waits for you" in refused.text
    listed = await client.get(f"/api/v1{url}/runs", headers=member.headers)
    assert listed.json()["total"] == 1
    again = await client.post(
        f"{url}/runs", data={"understood": "1", "again": "1", "csrf_token": token}
    )
    assert again.status_code == 303
    listed = await client.get(f"/api/v1{url}/runs", headers=member.headers)
    assert listed.json()["total"] == 2


_EMPTY = re.compile(r'class="empty"[^>]*>(.*?)</(?:p|td|li)>', re.DOTALL)


async def test_every_empty_list_says_what_to_do(client, make_actor):
    newcomer = await make_actor(UserRole.MEMBER)
    await _login(client, newcomer)
    expected = {
        "/projects": "Ask",
        "/approvals": "start one",
        "/chat": "write to Berry",
    }
    for path, action in expected.items():
        page = await client.get(path)
        assert page.status_code == 200, path
        said = " ".join(_EMPTY.findall(page.text))
        assert action in said, (path, said)
    for path in ("/models", "/tools", "/audit"):
        page = await client.get(path)
        if page.status_code != 200:
            continue  # not this role's page
        rows = re.search(r"<tbody>(.*?)</tbody>", page.text, re.DOTALL).group(1)
        if "<tr>" not in rows.replace("<tr><td colspan", ""):
            assert 'class="empty"' in rows, path
    created = await client.post(
        "/api/v1/projects", json={"name": "Empty"}, headers=newcomer.headers
    )
    page = await client.get(f"/projects/{created.json()['id']}")
    said = " ".join(_EMPTY.findall(page.text))
    assert "No team yet" in said
    assert "No plan yet" in said
    assert "No runs yet" in said
    assert "Generate the team first" in said
