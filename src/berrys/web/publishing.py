"""The project page's Publish action (a reviewed run's deliverables, behind a person's
approval, to a bundle, a git branch or a webhook) and a published bundle's download; both
404 for someone else's project."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import SecretStr, ValidationError

from berrys.core.errors import BerrysError, NotFound
from berrys.services.publishing import service as publishing
from berrys.services.publishing.contracts import PublicationCreate, PublicationTarget
from berrys.services.runs import service as runs
from berrys.web.pages import _database, see_other
from berrys.web.projects import _project_page
from berrys.web.security import Csrf, WebUser

router = APIRouter(include_in_schema=False)


def _request(form: dict[str, str]) -> PublicationCreate:
    """The form as a publication request (only the chosen target's options are read)."""
    target = PublicationTarget(form["target"])
    body: dict[str, Any] = {"target": target, "note": form["note"].strip() or None}
    if target == PublicationTarget.GIT:
        body["git"] = {
            "repository": form["repository"].strip(),
            "branch": form["branch"].strip() or None,
            "folder": form["folder"].strip() or "deliverables",
        }
    elif target == PublicationTarget.WEBHOOK:
        body["webhook"] = {"url": form["url"].strip(), "secret": SecretStr(form["secret"])}
    return PublicationCreate.model_validate(body)


@router.post(
    "/projects/{project_id}/publications", dependencies=[Csrf], response_class=HTMLResponse
)
async def publish(
    request: Request,
    user: WebUser,
    project_id: uuid.UUID,
    target: Annotated[str, Form(max_length=32)],
    repository: Annotated[str, Form(max_length=1000)] = "",
    branch: Annotated[str, Form(max_length=200)] = "",
    folder: Annotated[str, Form(max_length=200)] = "",
    url: Annotated[str, Form(max_length=2000)] = "",
    secret: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Ask for a publication: it waits for a person's answer on the Approvals page."""
    services = request.app.state.services
    form = {"target": target, "repository": repository, "branch": branch, "folder": folder}
    form |= {"url": url, "secret": secret, "note": note}
    try:
        if not user.can_write:
            raise BerrysError(f"Role {user.role.value} can only read.")
        publication_in = _request(form)
        async with _database(request).transaction() as session:
            await publishing.create(
                session,
                services.models.secrets,
                services.settings,
                project_id=project_id,
                publication_in=publication_in,
                user=user,
            )
    except NotFound:
        raise
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return await _project_page(request, user, project_id, 422, flash=detail, flash_kind="error")
    except (BerrysError, ValueError) as exc:
        detail = getattr(exc, "detail", None) or f"Unknown target {target!r}"
        status = getattr(exc, "status", 422)
        return await _project_page(
            request, user, project_id, status, flash=detail, flash_kind="error"
        )
    return see_other(f"/projects/{project_id}#publications")


@router.get("/projects/{project_id}/publications/{publication_id}/bundle")
async def download_bundle(
    request: Request, user: WebUser, project_id: uuid.UUID, publication_id: uuid.UUID
) -> Response:
    """The bundle's zip, exactly as ``GET /api/v1/projects/{id}/publications/{id}/bundle``."""
    settings = request.app.state.services.settings
    async with _database(request).transaction(read_only=True) as session:
        name, path = await publishing.bundle(
            session, settings, project_id=project_id, publication_id=publication_id, user=user
        )
    return FileResponse(
        path, media_type="application/zip", headers=runs.artifact_download_headers(name)
    )
