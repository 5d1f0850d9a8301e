"""What each target does with an approved publication: the deliverables read again (and
checked against what the approver saw), then a bundle written, a git commit made, or the
webhook's signed manifest prepared for the delivery queue."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from berrys.config import Settings
from berrys.core.db import Database, utcnow
from berrys.core.errors import BerrysError
from berrys.services.auth import service as auth
from berrys.services.projects import service as projects
from berrys.services.publishing import _bundle, _git
from berrys.services.publishing.contracts import PublicationTarget, PublishedFile
from berrys.services.publishing.tables import Publication
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunOut

# A text deliverable up to this size travels in the webhook's manifest; any other is linked.
MAX_INLINE_BYTES = 1_000_000


class PublishFailed(Exception):
    """The publication could not be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class Job:
    """An approved publication as its target needs it."""

    publication_id: uuid.UUID
    project_id: uuid.UUID
    project_name: str
    target: PublicationTarget
    options: dict[str, Any]
    files: list[PublishedFile]
    run: RunOut
    requested_by: str
    approved_by: str


@dataclass(frozen=True, slots=True)
class Outcome:
    result: dict[str, Any]
    location: str


def bundle_path(settings: Settings, project_id: uuid.UUID, publication_id: uuid.UUID) -> Path:
    """Where a BUNDLE publication's zip is kept."""
    return settings.publications_dir / str(project_id) / f"{publication_id}.zip"


def bundle_url(project_id: uuid.UUID, publication_id: uuid.UUID) -> str:
    return f"/api/v1/projects/{project_id}/publications/{publication_id}/bundle"


async def load_job(database: Database, publication_id: uuid.UUID) -> Job:
    """The publication with its run, as its approver may see them (PublishFailed if not)."""
    async with database.transaction(read_only=True) as session:
        row = await session.get(Publication, publication_id)
        if row is None:
            raise PublishFailed("the publication is gone")
        approver = (
            await auth.acting_for(session, user_id=row.approved_by) if row.approved_by else None
        )
        if approver is None:
            raise PublishFailed("its approver is no longer an active user")
        try:
            project = await projects.get(session, project_id=row.project_id, user=approver)
        except BerrysError as exc:
            raise PublishFailed(f"its approver cannot reach the project: {exc.detail}") from None
        run = await runs.get(session, run_id=row.run_id)
        ids = [user_id for user_id in (row.requested_by, row.approved_by) if user_id]
        emails = await auth.emails(session, user_ids=ids)
        return Job(
            publication_id=row.id,
            project_id=row.project_id,
            project_name=project.name,
            target=row.target,
            options=dict(row.options),
            files=[PublishedFile.model_validate(item) for item in row.files],
            run=run,
            requested_by=emails.get(row.requested_by, "someone") if row.requested_by else "someone",
            approved_by=approver.email,
        )


def _contents(job: Job, workspaces: Path) -> list[tuple[PublishedFile, bytes]]:
    """Each approved file's content now, refused if it changed since the approval (this
    reads the files: run it in a thread)."""
    artifacts = {artifact.id: artifact for artifact in job.run.artifacts}
    contents = []
    for item in job.files:
        artifact = artifacts.get(item.artifact_id)
        if artifact is None:
            raise PublishFailed(f"{item.file_name} is no longer among the run's deliverables")
        _, body = runs.read_artifact_file(artifact, workspaces)
        if hashlib.sha256(body).hexdigest() != item.sha256:
            raise PublishFailed(f"{item.file_name} changed since it was approved; ask again")
        contents.append((item, body))
    return contents


async def _bundle_target(
    job: Job, files: list[tuple[PublishedFile, bytes]], settings: Settings
) -> Outcome:
    now = utcnow()
    index = _bundle.index_html(
        project=job.project_name,
        run_id=str(job.run.id),
        approver=job.approved_by,
        published=now,
        files=files,
    )
    destination = bundle_path(settings, job.project_id, job.publication_id)
    manifest = _manifest(job, files, now, inline=False)
    size, sha = await asyncio.to_thread(
        _bundle.write, destination, index=index, manifest=manifest, files=files
    )
    url = bundle_url(job.project_id, job.publication_id)
    return Outcome({"url": url, "size": size, "sha256": sha, "files": len(files)}, url)


async def _git_target(
    job: Job, files: list[tuple[PublishedFile, bytes]], settings: Settings
) -> Outcome:
    branch = job.options.get("branch") or f"berrys/publication-{str(job.publication_id)[:8]}"
    folder = str(job.options["folder"])
    message = (
        f"Publish the deliverables of {job.project_name}\n\n"
        f"Run {job.run.id}, publication {job.publication_id}.\n"
        f"Requested by {job.requested_by}; approved by {job.approved_by}.\n"
    )
    try:
        repository = await _git.check_repository(str(job.options["repository"]), settings, branch)
        sha = await _git.commit(
            repository,
            branch=branch,
            folder=folder,
            files=[(item.file_name, body) for item, body in files],
            message=message,
        )
    except BerrysError as exc:
        raise PublishFailed(exc.detail) from None
    except _git.GitFailed as exc:
        raise PublishFailed(str(exc)) from None
    result = {"repository": str(repository), "branch": branch, "commit": sha, "folder": folder}
    return Outcome(result, f"{repository} {branch} {sha}")


async def _webhook_target(
    job: Job, files: list[tuple[PublishedFile, bytes]], settings: Settings
) -> Outcome:
    """The manifest to POST (``result``) and where (``location``): the queue sends it."""
    return Outcome(_manifest(job, files, utcnow(), inline=True), str(job.options["url"]))


def _manifest(
    job: Job, files: list[tuple[PublishedFile, bytes]], now: datetime, *, inline: bool
) -> dict[str, Any]:
    """What was published: the project, the run, who asked and approved, each file (with
    its content when ``inline``: text as it is, anything else in base64)."""
    listed = []
    for item, body in files:
        entry: dict[str, Any] = {
            **item.model_dump(mode="json"),
            "link": f"/api/v1/artifacts/{item.artifact_id}/content",
        }
        if inline and len(body) <= MAX_INLINE_BYTES:
            if _bundle.is_text(item.media_type):
                entry["content"] = body.decode("utf-8", errors="replace")
            else:
                entry["content_base64"] = base64.b64encode(body).decode()
        listed.append(entry)
    return {
        "event": "PUBLICATION",
        "publication_id": str(job.publication_id),
        "project": {"id": str(job.project_id), "name": job.project_name},
        "run": {"id": str(job.run.id), "status": job.run.status.value},
        "requested_by": job.requested_by,
        "approved_by": job.approved_by,
        "published_at": now.isoformat(),
        "files": listed,
    }


_TARGETS: dict[
    PublicationTarget,
    Callable[[Job, list[tuple[PublishedFile, bytes]], Settings], Awaitable[Outcome]],
] = {
    PublicationTarget.BUNDLE: _bundle_target,
    PublicationTarget.GIT: _git_target,
    PublicationTarget.WEBHOOK: _webhook_target,
}


async def publish(job: Job, settings: Settings) -> Outcome:
    """Carry the publication out on its target; PublishFailed says why it could not."""
    try:
        files = await asyncio.to_thread(_contents, job, settings.workspaces_dir)
        return await _TARGETS[job.target](job, files, settings)
    except OSError as exc:
        raise PublishFailed(f"{type(exc).__name__}: {exc}") from None
