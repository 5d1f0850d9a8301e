"""Artifacts over REST: a project's list (paged), one artifact's metadata, and its content as
a file; someone else's are not found."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from tests.services.runs.conftest import create_run, tasks, wait_for_status
from tests.services.runs.scripted import ScriptedExecutor

from berrys.services.runs.contracts import RunStatus
from berrys.services.runs.engine.executor import ArtifactSpec, TaskOutcome

CHECKLIST = "# Launch checklist\n\n- DNS: ops\n- Café menu: Zoë\n"
SHEET = b"PK\x03\x04 not text: a spreadsheet's bytes \xff\xfe"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class _Producing(ScriptedExecutor):
    """Each task leaves one artifact of a kind: a Markdown file in the workspace, text with
    no file, a binary file whose text is empty, and a path outside the workspaces."""

    def __init__(self, workspaces: Path, outside: Path) -> None:
        super().__init__()
        self.workspaces, self.outside = workspaces, outside

    async def execute(self, ctx) -> TaskOutcome:  # type: ignore[no-untyped-def]
        outcome = await super().execute(ctx)
        folder = self.workspaces / str(ctx.task.project_id) / "runs" / str(ctx.task.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        name = ctx.task.name
        if ctx.task.key == "checklist":
            path = folder / "checklist.md"
            path.write_text(CHECKLIST, encoding="utf-8")
            spec = ArtifactSpec(
                name=name, media_type="text/markdown", content=CHECKLIST, path=str(path)
            )
        elif ctx.task.key == "sheet":
            path = folder / "budget.xlsx"
            path.write_bytes(SHEET)
            spec = ArtifactSpec(name=name, media_type=XLSX, content="", path=str(path))
        elif ctx.task.key == "outside":
            self.outside.write_text("a file outside the workspaces", encoding="utf-8")
            spec = ArtifactSpec(
                name=name, media_type="text/plain", content="the text", path=str(self.outside)
            )
        else:
            spec = ArtifactSpec(name=name, media_type="text/plain", content="Grüße, 日本")
        outcome.artifacts = [spec]
        return outcome


@pytest.fixture
async def finished(client, database, settings, member, tmp_path, start_worker):  # type: ignore[no-untyped-def]
    created = await client.post("/api/v1/projects", json={"name": "Shop"}, headers=member.headers)
    project_id = created.json()["id"]
    specs = tasks("checklist", "sheet", "outside", "notes")
    specs[3] = specs[3].model_copy(update={"name": "Notes für 日本"})
    project = SimpleNamespace(id=uuid.UUID(project_id))
    run = await create_run(database, project, specs, actor_id=member.id)
    start_worker(_Producing(settings.workspaces_dir, tmp_path / "secret.txt"))
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    return project_id, run


async def test_a_projects_artifacts_are_listed_newest_first_with_task_run_type_and_size(
    client, member, finished
):
    project_id, run = finished
    listed = await client.get(f"/api/v1/projects/{project_id}/artifacts", headers=member.headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 4
    items = body["items"]
    created = [item["created_at"] for item in items]
    assert created == sorted(created, reverse=True)
    by_task = {item["task_name"]: item for item in items}
    assert set(by_task) == {"checklist", "sheet", "outside", "Notes für 日本"}
    tasks_by_name = {task.name: task for task in run.task_runs}
    for name, item in by_task.items():
        assert item["run_id"] == str(run.id)
        assert item["project_id"] == project_id
        assert item["task_run_id"] == str(tasks_by_name[name].id)
        assert set(item) >= {"id", "name", "path", "file_name", "media_type", "size", "created_at"}
    checklist = by_task["checklist"]
    assert (checklist["media_type"], checklist["file_name"]) == ("text/markdown", "checklist.md")
    assert checklist["size"] == len(CHECKLIST.encode())  # bytes, not characters
    assert by_task["sheet"]["size"] == len(SHEET)  # the file, not its (empty) text
    assert by_task["outside"]["size"] == len(b"the text")  # a file outside is never read
    notes = by_task["Notes für 日本"]
    assert (notes["path"], notes["file_name"]) == (None, "Notes für 日本.md")
    assert notes["size"] == len("Grüße, 日本".encode())

    # Paged like every list.
    page = await client.get(
        f"/api/v1/projects/{project_id}/artifacts",
        params={"limit": 3, "offset": 2},
        headers=member.headers,
    )
    assert page.json()["total"] == 4
    assert [i["id"] for i in page.json()["items"]] == [i["id"] for i in items[2:]]
    too_many = await client.get(
        f"/api/v1/projects/{project_id}/artifacts", params={"limit": 0}, headers=member.headers
    )
    assert too_many.status_code == 422
    assert too_many.headers["content-type"] == "application/problem+json"

    one = await client.get(f"/api/v1/artifacts/{checklist['id']}", headers=member.headers)
    assert one.status_code == 200
    assert one.json() == checklist


async def test_the_content_is_the_file_with_its_type_and_a_name_to_save_it_as(
    client, member, finished
):
    project_id, _ = finished
    items = (
        await client.get(f"/api/v1/projects/{project_id}/artifacts", headers=member.headers)
    ).json()["items"]
    by_task = {item["task_name"]: item for item in items}

    async def content(task_name: str):  # type: ignore[no-untyped-def]
        url = f"/api/v1/artifacts/{by_task[task_name]['id']}/content"
        response = await client.get(url, headers=member.headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-length"] == str(by_task[task_name]["size"])
        return response

    markdown = await content("checklist")
    assert markdown.content == CHECKLIST.encode()
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.headers["content-disposition"] == (
        "attachment; filename=\"checklist.md\"; filename*=UTF-8''checklist.md"
    )
    assert markdown.headers["x-content-type-options"] == "nosniff"

    sheet = await content("sheet")
    assert sheet.content == SHEET
    assert sheet.headers["content-type"] == XLSX
    assert 'filename="budget.xlsx"' in sheet.headers["content-disposition"]

    outside = await content("outside")
    assert outside.content == b"the text"

    notes = await content("Notes für 日本")
    assert notes.content.decode() == "Grüße, 日本"
    disposition = notes.headers["content-disposition"]
    assert 'filename="Notes f_r __.md"' in disposition  # ASCII for old clients
    assert f"filename*=UTF-8''{quote('Notes für 日本.md')}" in disposition


async def test_someone_elses_artifacts_are_not_found(client, member, other_member, admin, finished):
    project_id, _ = finished
    items = (
        await client.get(f"/api/v1/projects/{project_id}/artifacts", headers=member.headers)
    ).json()["items"]
    artifact_id = items[0]["id"]
    for url in (
        f"/api/v1/projects/{project_id}/artifacts",
        f"/api/v1/artifacts/{artifact_id}",
        f"/api/v1/artifacts/{artifact_id}/content",
        f"/api/v1/artifacts/{uuid.uuid4()}",
        f"/api/v1/artifacts/{uuid.uuid4()}/content",
    ):
        response = await client.get(url, headers=other_member.headers)
        assert response.status_code == 404, url
        assert response.headers["content-type"] == "application/problem+json"
        assert "not found" in response.json()["detail"]
    # An admin sees every project's.
    seen = await client.get(f"/api/v1/artifacts/{artifact_id}/content", headers=admin.headers)
    assert seen.status_code == 200
    bad = await client.get("/api/v1/artifacts/not-an-id", headers=member.headers)
    assert bad.status_code == 422
