"""The dashboard over HTTP, in process: login, cookies, CSRF on every form, the pages a user
walks through (an admin's sees the live workers), and that a refused POST changes nothing."""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser

import httpx
import pytest
from tests.services.runs.scripted import ScriptedExecutor

from berrys.services.auth.contracts import UserRole
from berrys.services.projects.contracts import ProjectStatus
from berrys.services.projects.service import TRANSITIONS
from berrys.services.runs import service as runs

PASSWORD = "correct horse battery"
BAKERY = "Create a project called Bakery Site to build a website for my bakery"
CSRF_FAILED = "CSRF token validation failed"


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def _login(client, actor) -> str:
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": actor.email, "password": PASSWORD, "csrf_token": _token(page.text)},
    )
    assert response.status_code == 303, response.text
    home = await client.get("/")
    return _token(home.text)


async def _projects(client, actor):
    return (await client.get("/api/v1/projects", headers=actor.headers)).json()


class _Forms(HTMLParser):
    """Collects forms, their fields, and labels, to check every page the same way."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.labels: set[str] = set()
        self.controls: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"method": (attrs.get("method") or "get").lower(), "fields": {}})
        elif tag in ("input", "select", "textarea") and self.forms is not None:
            if self.forms:
                self.forms[-1]["fields"][attrs.get("name")] = attrs.get("value")
            if attrs.get("type") not in ("hidden", "submit"):
                self.controls.append(attrs)
        elif tag == "label" and attrs.get("for"):
            self.labels.add(attrs["for"])


def _parse(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    return parser


async def test_a_fresh_install_says_what_to_do_first(client):
    home = await client.get("/")
    assert home.status_code == 200
    assert "Log in" in home.text
    assert "one-time password" in home.text
    assert 'name="viewport"' in home.text
    protected = await client.get("/projects")
    assert protected.status_code == 303
    assert protected.headers["location"] == "/login?next=%2Fprojects"
    fragment = await client.get("/projects", headers={"HX-Request": "true"})  # htmx swaps
    assert fragment.status_code == 401
    assert fragment.headers["hx-redirect"] == "/login?next=%2Fprojects"


async def test_login_sets_a_safe_cookie_and_logout_revokes_it(client, member):
    await _login(client, member)
    cookie = next(c for c in client.cookies.jar if c.name == "berrys_session")  # the login token
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert not cookie.secure
    home = await client.get("/")
    assert member.email in home.text
    assert "Start here" in home.text  # no projects yet: the first step

    token = cookie.value
    logout = await client.post("/logout", data={"csrf_token": _token(home.text)})
    assert logout.status_code == 303
    assert "berrys_session" not in client.cookies
    # The token behind the cookie is revoked, not only forgotten by the browser.
    client.cookies.set("berrys_session", token)
    assert (await client.get("/projects")).status_code == 303
    api = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401


async def test_cookies_are_secure_under_https(app, member):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as https:
        page = await https.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()
        response = await https.post(
            "/login",
            data={"email": member.email, "password": PASSWORD, "csrf_token": _token(page.text)},
        )
        header = response.headers["set-cookie"].lower()
        assert "berrys_session=" in header
        assert "httponly" in header
        assert "samesite=lax" in header
        assert "secure" in header


async def test_a_wrong_password_is_the_same_answer_as_a_wrong_email(client, member):
    page = await client.get("/login")
    for email in (member.email, "nobody@example.com"):
        response = await client.post(
            "/login",
            data={"email": email, "password": "wrong password", "csrf_token": _token(page.text)},
        )
        assert response.status_code == 401
        assert "Invalid email or password" in response.text
    assert "berrys_session" not in client.cookies


async def test_login_without_csrf_is_refused(client, member):
    await client.get("/login")
    response = await client.post("/login", data={"email": member.email, "password": PASSWORD})
    assert response.status_code == 403
    assert CSRF_FAILED in response.text
    assert "berrys_session" not in client.cookies


async def test_a_post_without_a_valid_csrf_token_changes_nothing(client, member):
    token = await _login(client, member)
    created = await client.post(
        "/projects", data={"name": "Kept", "description": "", "csrf_token": token}
    )
    assert created.status_code == 303
    project_id = created.headers["location"].rsplit("/", 1)[1]
    session = await client.post("/chat", data={"csrf_token": token})
    session_id = session.headers["location"].rsplit("/", 1)[1]
    before = (
        await client.get(f"/api/v1/audit?project_id={project_id}", headers=member.headers)
    ).json()

    attempts = [
        ("/projects", {"name": "Forged"}),
        (f"/projects/{project_id}/transitions", {"to_status": "PLANNING"}),
        (f"/projects/{project_id}/team", {}),
        (f"/chat/{session_id}/messages", {"content": BAKERY}),
        ("/settings/tokens", {"name": "forged"}),
        ("/logout", {}),
    ]
    for url, data in attempts:
        for forged in (None, "0" * 64, token[:-1] + ("0" if token[-1] != "0" else "1")):
            body = dict(data) if forged is None else {**data, "csrf_token": forged}
            response = await client.post(url, data=body)
            assert response.status_code == 403, (url, forged, response.status_code)
            assert CSRF_FAILED in response.text
    # A token from another browser (another CSRF cookie) is no good either.
    transport = httpx.ASGITransport(app=client._transport.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        other.cookies.set("berrys_session", client.cookies["berrys_session"])
        await other.get("/")
        response = await other.post(
            f"/projects/{project_id}/transitions",
            data={"to_status": "PLANNING", "csrf_token": token},
        )
        assert response.status_code == 403

    projects = await _projects(client, member)
    assert [p["name"] for p in projects["items"]] == ["Kept"]
    assert projects["items"][0]["status"] == "DRAFT"
    after = (
        await client.get(f"/api/v1/audit?project_id={project_id}", headers=member.headers)
    ).json()
    assert after["total"] == before["total"]
    chat = (await client.get(f"/api/v1/chat/sessions/{session_id}", headers=member.headers)).json()
    assert chat["messages"] == []
    assert (await client.get("/api/v1/auth/tokens", headers=member.headers)).json()["total"] == 1
    assert (await client.get("/projects")).status_code == 200  # still logged in


async def test_lifecycle_buttons_offer_only_allowed_transitions(client, member):
    token = await _login(client, member)
    created = await client.post(
        "/projects", data={"name": "Walk", "description": "walk it", "csrf_token": token}
    )
    url = created.headers["location"]
    path = [ProjectStatus.PLANNING, ProjectStatus.IN_PROGRESS, ProjectStatus.PAUSED]
    status = ProjectStatus.DRAFT
    for target in [*path, ProjectStatus.CANCELLED, ProjectStatus.ARCHIVED]:
        page = await client.get(url)
        offered = {
            form["fields"]["to_status"]
            for form in _parse(page.text).forms
            if "to_status" in form["fields"]
        }
        assert offered == {s.value for s in TRANSITIONS[status]}
        moved = await client.post(
            f"{url}/transitions", data={"to_status": target.value, "csrf_token": _token(page.text)}
        )
        assert moved.status_code == 303
        status = target
    final = await client.get(url)
    assert "is final" in final.text
    history = (
        await client.get(
            f"/api/v1/projects/{url.rsplit('/', 1)[1]}/history", headers=member.headers
        )
    ).json()
    assert [h["to_status"] for h in history["items"]][-1] == "ARCHIVED"


async def test_an_illegal_transition_is_explained_not_applied(client, member):
    token = await _login(client, member)
    created = await client.post("/projects", data={"name": "Stay", "csrf_token": token})
    url = created.headers["location"]
    response = await client.post(
        f"{url}/transitions", data={"to_status": "COMPLETED", "csrf_token": token}
    )
    assert response.status_code == 409
    assert "allowed next states" in response.text
    assert (await _projects(client, member))["items"][0]["status"] == "DRAFT"


async def test_chat_in_the_browser_streams_and_creates_the_project(client, member):
    token = await _login(client, member)
    started = await client.post("/chat", data={"csrf_token": token})
    session_url = started.headers["location"]
    response = await client.post(
        f"{session_url}/messages",
        data={"content": BAKERY},
        headers={"Accept": "text/event-stream", "X-CSRF-Token": token},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        (dict(line.split(": ", 1) for line in block.splitlines()))
        for block in response.text.strip().split("\n\n")
    ]
    done = json.loads(events[-1]["data"])
    project_id = done["actions"][0]["result"]["project_id"]
    [project] = (await _projects(client, member))["items"]
    assert (project["id"], project["name"], project["description"]) == (
        project_id,
        "Bakery Site",
        "build a website for my bakery",
    )
    page = await client.get(session_url)
    assert f'href="/projects/{project_id}"' in page.text  # the action card links to it
    listed = await client.get("/projects")
    assert "Bakery Site" in listed.text


async def test_someone_elses_pages_are_not_found(client, member, other_member):
    project = (
        await client.post("/api/v1/projects", json={"name": "Private"}, headers=member.headers)
    ).json()
    chat = (await client.post("/api/v1/chat/sessions", json={}, headers=member.headers)).json()
    token = await _login(client, other_member)
    assert (await client.get(f"/projects/{project['id']}")).status_code == 404
    assert (await client.get(f"/chat/{chat['id']}")).status_code == 404
    moved = await client.post(
        f"/projects/{project['id']}/transitions",
        data={"to_status": "PLANNING", "csrf_token": token},
    )
    assert moved.status_code == 404
    assert (await _projects(client, member))["items"][0]["status"] == "DRAFT"


async def test_a_viewer_reads_but_cannot_create(client, make_actor):
    viewer = await make_actor(UserRole.VIEWER)
    token = await _login(client, viewer)
    page = await client.get("/projects")
    assert "New project" not in page.text
    response = await client.post("/projects", data={"name": "Nope", "csrf_token": token})
    assert response.status_code == 403
    assert (await _projects(client, viewer))["total"] == 0


async def test_tokens_are_created_shown_once_and_revoked(client, member):
    token = await _login(client, member)
    created = await client.post(
        "/settings/tokens", data={"name": "laptop", "expires_in_days": "30", "csrf_token": token}
    )
    assert created.status_code == 200
    secret = re.search(r'id="new-token" readonly value="(brs_[^"]+)"', created.text).group(1)
    assert (
        await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    ).status_code == 200
    again = await client.get("/settings")
    assert secret not in again.text
    token_id = re.search(r'action="/settings/tokens/([0-9a-f-]+)/revoke"', again.text).group(1)
    revoked = await client.post(
        f"/settings/tokens/{token_id}/revoke", data={"csrf_token": _token(again.text)}
    )
    assert revoked.status_code == 303
    assert (
        await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    ).status_code == 401


async def test_an_admin_edits_berrys_greeting(client, admin, member):
    token = await _login(client, admin)
    saved = await client.post(
        "/settings/prompts/greeting", data={"content": "Howdy from Berry!", "csrf_token": token}
    )
    assert saved.status_code == 200
    prompts = (await client.get("/api/v1/chat/prompts", headers=member.headers)).json()
    assert {p["name"]: p["content"] for p in prompts}["greeting"] == "Howdy from Berry!"


@pytest.mark.parametrize("role", [UserRole.ADMIN, UserRole.MEMBER])
async def test_every_page_labels_its_fields_and_protects_its_forms(client, make_actor, role):
    actor = await make_actor(role)
    token = await _login(client, actor)
    created = await client.post(
        "/projects", data={"name": "Forms", "description": "check the forms", "csrf_token": token}
    )
    project_url = created.headers["location"]
    await client.post(f"{project_url}/team", data={"csrf_token": token})
    await client.post(f"{project_url}/plan", data={"csrf_token": token})
    chat = await client.post("/chat", data={"content": "hello", "csrf_token": token})
    pages = [
        "/",
        "/projects",
        project_url,
        chat.headers["location"],
        "/audit",
        "/settings",
        "/tools",
    ]
    for url in pages:
        page = await client.get(url)
        assert page.status_code == 200, url
        assert "Content-Security-Policy" in page.headers
        parsed = _parse(page.text)
        for form in parsed.forms:
            if form["method"] == "post":
                assert form["fields"].get("csrf_token"), (url, form)
        for control in parsed.controls:
            assert control.get("id") in parsed.labels, (url, control)
    project = await client.get(project_url)
    assert "Gantt chart" in project.text
    assert "critical" in project.text


async def _planned_project(client, token, *, approval: bool = False) -> str:
    created = await client.post(
        "/projects",
        data={
            "name": "Runner",
            "description": "build a website for my bakery",
            "csrf_token": token,
        },
    )
    url = created.headers["location"]
    if approval:
        await client.patch(
            f"/api/v1{url}",
            json={"metadata": {"require_plan_approval": True}},
            headers={"Authorization": f"Bearer {client.cookies['berrys_session']}"},
        )
    await client.post(f"{url}/team", data={"csrf_token": token})
    await client.post(f"{url}/plan", data={"csrf_token": token})
    return url


async def test_a_run_starts_only_when_confirmed(client, member):
    token = await _login(client, member)
    url = await _planned_project(client, token)
    page = await client.get(url)
    assert "Start run" in page.text
    unconfirmed = await client.post(f"{url}/runs", data={"csrf_token": token})
    assert unconfirmed.status_code == 422
    assert "Tick the box" in unconfirmed.text
    runs = await client.get(f"/api/v1{url}/runs", headers=member.headers)
    assert runs.json()["total"] == 0
    forged = await client.post(f"{url}/runs", data={"understood": "1"})
    assert forged.status_code == 403
    started = await client.post(f"{url}/runs", data={"understood": "1", "csrf_token": token})
    assert started.status_code == 303
    run_url = started.headers["location"]
    assert run_url.startswith("/runs/")
    page = await client.get(run_url)
    assert page.status_code == 200
    assert 'sse-connect="' + run_url + '/events"' in page.text
    assert (await client.get(f"{run_url}/live")).status_code == 200
    assert (await client.get(f"/api/v1{url}/runs", headers=member.headers)).json()["total"] == 1


async def test_the_approvals_inbox_answers_with_a_comment(client, member, other_member):
    token = await _login(client, member)
    url = await _planned_project(client, token, approval=True)
    started = await client.post(f"{url}/runs", data={"understood": "1", "csrf_token": token})
    run_url = started.headers["location"]
    count = await client.get("/approvals/count")
    assert ">1<" in count.text
    inbox = await client.get("/approvals")
    interaction_id = re.search(r'action="/approvals/([0-9a-f-]+)"', inbox.text).group(1)
    forged = await client.post(f"/approvals/{interaction_id}", data={"decision": "approve"})
    assert forged.status_code == 403
    answered = await client.post(
        f"/approvals/{interaction_id}",
        data={"decision": "approve", "comment": "fine by me", "csrf_token": _token(inbox.text)},
    )
    assert answered.status_code == 200
    assert "Nothing is waiting for you." in answered.text
    assert f'href="{run_url}"' in answered.text
    interaction = await client.get(f"/api/v1/interactions/{interaction_id}", headers=member.headers)
    assert interaction.json()["status"] == "RESPONDED"
    assert (await client.get("/approvals/count")).text == ""

    # Someone else sees neither the run nor its events.
    client.cookies.clear()
    await _login(client, other_member)
    assert (await client.get(run_url)).status_code == 404
    assert (await client.get(f"{run_url}/events")).status_code == 404
    assert "Nothing is waiting" in (await client.get("/approvals")).text


async def test_models_page_shows_the_registry_and_usage(client, member):
    await _login(client, member)
    page = await client.get("/models")
    assert page.status_code == 200
    assert "Models and usage" in page.text


async def test_page_errors_are_pages_and_api_errors_stay_problem_json(client, member):
    await _login(client, member)
    for url, status in (("/projects/not-a-uuid", 422), ("/no-such-page", 404)):
        response = await client.get(url)
        assert response.status_code == status
        assert response.headers["content-type"].startswith("text/html")
    wrong_method = await client.delete("/projects")
    assert wrong_method.status_code == 405
    assert "Method not allowed" in wrong_method.text
    api = await client.get("/api/v1/projects/not-a-uuid", headers=member.headers)
    assert api.status_code == 422
    assert api.headers["content-type"] == "application/problem+json"
    missing = await client.get("/api/v1/nothing-here", headers=member.headers)
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await client.get("/static/nothing.js")).status_code == 404


async def test_the_project_page_says_what_kind_of_project_it_is_and_why(client, member):
    token = await _login(client, member)
    description = (
        "Organise a one-day repair café in our village hall: volunteers, publicity, safety "
        "checks and a booking form"
    )
    created = await client.post(
        "/projects", data={"name": "Repair café", "description": description, "csrf_token": token}
    )
    url = created.headers["location"]
    before = await client.get(url)
    assert "Not understood yet" in before.text
    generated = await client.post(f"{url}/team", data={"csrf_token": token})
    assert generated.status_code in (200, 303), generated.text
    page = await client.get(url)
    assert "What kind of project" in page.text
    assert "<strong>Event</strong>" in page.text
    assert "because of: repair café" in page.text
    assert "stated" in page.text
    assert "implied" in page.text
    assert "Book the venue" not in before.text


async def test_the_settings_page_shows_an_admin_the_live_workers(client, database, admin, member):
    worker = runs.Worker(database, ScriptedExecutor(), hooks=runs.HOOKS, worker_id="w-shown")
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.ready.wait(), 10)
        await _login(client, admin)
        page = (await client.get("/settings")).text
        assert 'id="workers"' in page
        assert "<code>w-shown</code>" in page
        assert f"0 of {worker.config.concurrency}" in page
        client.cookies.clear()
        await _login(client, member)
        assert 'id="workers"' not in (await client.get("/settings")).text
    finally:
        worker.stop()
        await running
