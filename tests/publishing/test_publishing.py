"""Publishing a reviewed run's deliverables behind a person's approval, end to end over REST:
a BUNDLE downloaded and opened, a GIT commit on a branch of a real repository, a WEBHOOK
received by a real HTTP server on loopback with its signature checked; a rejection publishes
nothing; an unreviewed run, someone else's project and a repository outside the allowed
folders are refused."""

from __future__ import annotations

import hmac
import io
import json
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
from tests.publishing.conftest import HOSTILE, init_repository, publish_pass
from tests.services.runs.conftest import wait_until

from berrys.services.alerts import service as alerts
from berrys.services.publishing import service as publishing
from berrys.wiring import Services

SECRET = "a-publication-secret-of-ours"


def _url(project_id: uuid.UUID, *parts: str) -> str:
    return "/".join([f"/api/v1/projects/{project_id}/publications", *parts]).rstrip("/")


async def _ask(client: httpx.AsyncClient, actor: Any, project_id: uuid.UUID, **body: Any) -> Any:
    response = await client.post(_url(project_id), json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    asked = response.json()
    assert asked["status"] == "PENDING_APPROVAL"
    return asked


async def _answer(client: httpx.AsyncClient, actor: Any, asked: Any, *, approved: bool) -> None:
    response = await client.post(
        f"/api/v1/interactions/{asked['interaction_id']}/respond",
        json={"approved": approved, "comment": "looks right" if approved else "not yet"},
        headers=actor.headers,
    )
    assert response.status_code == 200, response.text


async def _get(client: httpx.AsyncClient, actor: Any, asked: Any) -> Any:
    response = await client.get(_url(asked["project_id"], asked["id"]), headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _overwrite(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _git(repository: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repository), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


async def test_a_bundle_goes_out_once_a_person_approves_and_downloads_whole(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    admin: Any,
    project_id: uuid.UUID,
    finished_run: Any,
) -> None:
    run = await finished_run(project_id, member)
    asked = await _ask(client, member, project_id, target="BUNDLE")
    assert asked["run_id"] == str(run.id)
    assert sorted(item["file_name"] for item in asked["files"]) == ["brief.md", "budget.md"]
    approval = await client.get(
        f"/api/v1/interactions/{asked['interaction_id']}", headers=member.headers
    )
    assert approval.json()["detail"]["subject"] == "PUBLICATION"
    assert await publish_pass(services) == 0  # nobody has answered: nothing goes out
    bundle = _url(project_id, asked["id"], "bundle")
    assert (await client.get(bundle, headers=member.headers)).status_code == 404

    await _answer(client, admin, asked, approved=True)
    assert await publish_pass(services) == 1
    published = await _get(client, member, asked)
    assert published["status"] == "PUBLISHED"
    assert published["approved_by"] == str(admin.id)
    assert published["requested_by"] == str(member.id)
    assert published["location"] == bundle
    response = await client.get(bundle, headers=member.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == [
        "files/brief.md",
        "files/budget.md",
        "index.html",
        "manifest.json",
    ]
    index = archive.read("index.html").decode()
    assert "<script>alert(1)</script>" not in index  # the task's name is text, not markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert "<h1>budget</h1>" in index  # the Markdown deliverable rendered
    assert admin.email in index
    manifest = json.loads(archive.read("manifest.json"))
    assert [item["file_name"] for item in manifest["files"]] == [
        item["file_name"] for item in asked["files"]
    ]
    for item in asked["files"]:
        assert archive.read(f"files/{item['file_name']}").decode().startswith("# ")

    audit = await client.get(
        "/api/v1/audit", params={"entity_id": asked["id"]}, headers=member.headers
    )
    entries = audit.json()["items"]
    assert [entry["action"] for entry in entries] == ["TRANSITION", "TRANSITION", "CREATE"]
    assert entries[0]["after"]["location"] == bundle
    assert entries[1]["actor_id"] == str(admin.id)


async def test_a_git_publication_commits_on_a_branch_and_leaves_the_checkout_alone(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    admin: Any,
    project_id: uuid.UUID,
    finished_run: Any,
    repository: Path,
) -> None:
    await finished_run(project_id, member)
    (repository / "notes.txt").write_text("work in progress, not committed\n")
    git = {"repository": str(repository), "branch": "site/spring-fair", "folder": "docs/fair"}
    asked = await _ask(client, member, project_id, target="GIT", git=git)
    await _answer(client, admin, asked, approved=True)
    assert await publish_pass(services) == 1

    published = await _get(client, member, asked)
    assert published["status"] == "PUBLISHED", published["error"]
    sha = published["result"]["commit"]
    assert published["result"]["branch"] == "site/spring-fair"
    assert published["location"] == f"{repository} site/spring-fair {sha}"
    assert _git(repository, "rev-parse", "site/spring-fair") == sha
    tree = _git(repository, "ls-tree", "-r", "--name-only", "site/spring-fair").splitlines()
    assert sorted(tree) == ["README.md", "docs/fair/brief.md", "docs/fair/budget.md"]
    assert _git(repository, "show", "site/spring-fair:docs/fair/budget.md").startswith("# budget")
    assert _git(repository, "log", "-1", "--format=%an <%ae>", sha) == "Berrys <berrys@localhost>"
    message = _git(repository, "log", "-1", "--format=%B", sha)
    assert f"approved by {admin.email}" in message
    assert f"Requested by {member.email}" in message
    assert _git(repository, "rev-parse", "site/spring-fair~1") == _git(
        repository, "rev-parse", "main"
    )
    # The person's checkout is as it was: same branch, same uncommitted file, clean index.
    assert _git(repository, "symbolic-ref", "--short", "HEAD") == "main"
    assert _git(repository, "status", "--porcelain") == "?? notes.txt"


async def test_a_webhook_publication_is_a_signed_manifest_received_on_loopback(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    admin: Any,
    project_id: uuid.UUID,
    finished_run: Any,
    receiver: Any,
) -> None:
    receiver.statuses = []  # 200 at once
    run = await finished_run(project_id, member)
    url = f"http://127.0.0.1:{receiver.server_address[1]}/published"
    asked = await _ask(
        client, member, project_id, target="WEBHOOK", webhook={"url": url, "secret": SECRET}
    )
    assert asked["options"] == {"url": url}  # the secret is never shown
    await _answer(client, admin, asked, approved=True)
    assert await publish_pass(services) == 1

    ((headers, body),) = receiver.received
    expected = alerts.sign(SECRET, headers[alerts.TIMESTAMP_HEADER], body)
    assert hmac.compare_digest(headers[alerts.SIGNATURE_HEADER], expected)
    manifest = json.loads(body)
    assert manifest["event"] == "PUBLICATION"
    assert manifest["run"]["id"] == str(run.id)
    assert manifest["approved_by"] == admin.email
    files = {item["file_name"]: item for item in manifest["files"]}
    assert files["budget.md"]["content"].startswith("# budget")
    assert files["brief.md"]["link"].startswith("/api/v1/artifacts/")
    published = await _get(client, member, asked)
    assert published["status"] == "PUBLISHED"
    assert published["result"]["delivery_id"] == published["delivery"]["id"]
    assert [a["status_code"] for a in published["delivery"]["attempt_log"]] == [200]
    assert SECRET not in json.dumps(published)


async def test_a_rejected_publication_publishes_nothing(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    admin: Any,
    project_id: uuid.UUID,
    finished_run: Any,
    repository: Path,
) -> None:
    await finished_run(project_id, member)
    bundle = await _ask(client, member, project_id, target="BUNDLE")
    git = {"repository": str(repository), "branch": "never"}
    commit = await _ask(client, member, project_id, target="GIT", git=git)
    await _answer(client, admin, bundle, approved=False)
    await _answer(client, member, commit, approved=False)
    assert await publish_pass(services) == 0

    for asked in (bundle, commit):
        rejected = await _get(client, member, asked)
        assert rejected["status"] == "REJECTED"
        assert rejected["result"] == {"rejected": "rejected: not yet"}
        assert rejected["location"] is None
    response = await client.get(_url(project_id, bundle["id"], "bundle"), headers=member.headers)
    assert response.status_code == 404
    assert not (services.settings.publications_dir / str(project_id)).exists()
    assert _git(repository, "branch", "--list", "never") == ""
    listed = await client.get(
        _url(project_id), params={"status": "REJECTED"}, headers=member.headers
    )
    assert listed.json()["total"] == 2


async def test_an_unreviewed_run_is_refused_saying_what_waits(
    client: httpx.AsyncClient, member: Any, project_id: uuid.UUID, finished_run: Any
) -> None:
    run = await finished_run(project_id, member, review=["3 TODOs for a person"])
    response = await client.post(
        _url(project_id), json={"target": "BUNDLE", "run_id": str(run.id)}, headers=member.headers
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert "waiting for a person's review" in problem["detail"]
    assert problem["run_status"] == "COMPLETED_WITH_REVIEW"
    (waiting,) = problem["waiting"]
    assert waiting["name"] == HOSTILE
    assert waiting["reasons"] == ["3 TODOs for a person"]
    # Without run_id the latest finished run is chosen, and refused the same way.
    default = await client.post(_url(project_id), json={"target": "BUNDLE"}, headers=member.headers)
    assert default.status_code == 409
    assert (await client.get(_url(project_id), headers=member.headers)).json()["total"] == 0


async def test_someone_elses_project_and_a_repository_outside_the_roots_are_refused(
    client: httpx.AsyncClient,
    member: Any,
    other_member: Any,
    viewer: Any,
    project_id: uuid.UUID,
    finished_run: Any,
    tmp_path: Path,
) -> None:
    await finished_run(project_id, member)
    asked = await _ask(client, member, project_id, target="BUNDLE")
    for response in (
        await client.post(
            _url(project_id), json={"target": "BUNDLE"}, headers=other_member.headers
        ),
        await client.get(_url(project_id), headers=other_member.headers),
        await client.get(_url(project_id, asked["id"]), headers=other_member.headers),
        await client.get(_url(project_id, asked["id"], "bundle"), headers=other_member.headers),
    ):
        assert response.status_code == 404, response.text
    outside = init_repository(tmp_path / "elsewhere")
    for git in (
        {"repository": str(outside)},
        {"repository": str(tmp_path / "repos" / ".." / "elsewhere")},
        {"repository": "relative/path"},
    ):
        refused = await client.post(
            _url(project_id), json={"target": "GIT", "git": git}, headers=member.headers
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    mismatched = await client.post(
        _url(project_id),
        json={"target": "BUNDLE", "webhook": {"url": "http://127.0.0.1/x", "secret": SECRET}},
        headers=member.headers,
    )
    assert mismatched.status_code == 422
    bad_folder = await client.post(
        _url(project_id),
        json={"target": "GIT", "git": {"repository": str(outside), "folder": "../up"}},
        headers=member.headers,
    )
    assert bad_folder.status_code == 422


async def test_the_process_loop_publishes_soon_after_the_approval(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    admin: Any,
    project_id: uuid.UUID,
    finished_run: Any,
) -> None:
    """The loop a server or worker owns (``Services.publish_loop``) carries it out."""
    await finished_run(project_id, member)
    asked = await _ask(client, member, project_id, target="BUNDLE")
    loop = services.publish_loop()
    assert loop is not None
    loop.start()
    try:
        await _answer(client, admin, asked, approved=True)

        async def _published() -> bool:
            return (await _get(client, member, asked))["status"] == "PUBLISHED"

        await wait_until(_published, message="the publication", every=0.05)
    finally:
        await loop.stop()


async def test_a_deliverable_changed_after_the_approval_fails_the_publication(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    admin: Any,
    project_id: uuid.UUID,
    finished_run: Any,
) -> None:
    run = await finished_run(project_id, member)
    asked = await _ask(client, member, project_id, target="BUNDLE")
    await _answer(client, admin, asked, approved=True)
    brief = next(artifact for artifact in run.artifacts if artifact.path.endswith("brief.md"))
    _overwrite(Path(brief.path), "# Something nobody approved\n")
    assert await publish_pass(services) == 1

    failed = await _get(client, member, asked)
    assert failed["status"] == "FAILED"
    assert failed["error"] == "brief.md changed since it was approved; ask again"
    assert failed["location"] is None
    assert not (services.settings.publications_dir / str(project_id)).exists()


async def test_a_webhook_never_delivered_fails_after_its_attempts(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    admin: Any,
    project_id: uuid.UUID,
    finished_run: Any,
    receiver: Any,
) -> None:
    receiver.statuses = [500, 500]
    await finished_run(project_id, member)
    url = f"http://127.0.0.1:{receiver.server_address[1]}/published"
    asked = await _ask(
        client, member, project_id, target="WEBHOOK", webhook={"url": url, "secret": SECRET}
    )
    await _answer(client, admin, asked, approved=True)
    one_attempt = services.settings.model_copy(update={"alerts_delivery_max_attempts": 1})
    await publishing.publish_due(services.database, services.models.secrets, one_attempt)

    failed = await _get(client, member, asked)
    assert failed["status"] == "FAILED"
    assert failed["error"] == "the webhook was not delivered after 1 attempts: HTTP 500"
    assert failed["delivery"]["status"] == "FAILED"
    assert [a["status_code"] for a in failed["delivery"]["attempt_log"]] == [500]
