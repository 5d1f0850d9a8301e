"""One artifact on a page of its own (Markdown rendered and sanitised as on the run page),
and its download; both 404 for someone else's."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.web.pages import _database
from berrys.web.run_detail import artifact_view
from berrys.web.security import WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/artifacts/{artifact_id}", response_class=HTMLResponse)
async def artifact_page(request: Request, user: WebUser, artifact_id: uuid.UUID) -> Response:
    """The artifact to read: which task and run made it, its text, a download link."""
    workspaces = request.app.state.settings.workspaces_dir
    async with _database(request).transaction(read_only=True) as session:
        summary = await runs.get_artifact(
            session, artifact_id=artifact_id, user=user, workspaces=workspaces
        )
        artifact = await runs.get_artifact_content(session, artifact_id=artifact_id, user=user)
        project = await projects.get(session, project_id=summary.project_id, user=user)
    return render(
        request,
        "artifact.html",
        project=project,
        summary=summary,
        view=artifact_view(artifact),
    )


@router.get("/artifacts/{artifact_id}/download")
async def download(request: Request, user: WebUser, artifact_id: uuid.UUID) -> Response:
    """The artifact as a file to save, exactly as ``GET /api/v1/artifacts/{id}/content``."""
    async with _database(request).transaction(read_only=True) as session:
        artifact = await runs.get_artifact_content(session, artifact_id=artifact_id, user=user)
    name, body = await asyncio.to_thread(
        runs.read_artifact_file, artifact, request.app.state.settings.workspaces_dir
    )
    return Response(
        body,
        media_type=runs.artifact_media_type(artifact),
        headers=runs.artifact_download_headers(name),
    )
