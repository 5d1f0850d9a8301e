"""Runs and approvals: start a run, follow it live (SSE), answer approvals in the inbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from berrys.core.db import Database
from berrys.core.errors import BerrysError, NotFound
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions.contracts import HumanInteractionType, InteractionStatus
from berrys.services.llm.deps import ModelsDep
from berrys.services.pipeline import service as pipeline
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.web import run_detail
from berrys.web.pages import _database, see_other
from berrys.web.security import Csrf, WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)


@router.post("/projects/{project_id}/runs", dependencies=[Csrf], response_class=HTMLResponse)
async def start_run(
    request: Request,
    models: ModelsDep,
    user: WebUser,
    project_id: uuid.UUID,
    understood: Annotated[str | None, Form()] = None,
    again: Annotated[str | None, Form()] = None,
) -> Response:
    """Start executing the current plan; the form's checkbox is the confirmation, and a
    second one when another run of the project waits for a person."""
    from berrys.services.runs.contracts import RunCreate
    from berrys.web.projects import _project_page, waiting_run

    if not again:
        async with _database(request).transaction(read_only=True) as session:
            await projects.get(session, project_id=project_id, user=user)
            recent, _ = await runs.get_all(session, project_id=project_id, limit=20, offset=0)
        waiting = waiting_run(recent)
        if waiting is not None:
            return await _project_page(
                request,
                user,
                project_id,
                409,
                flash=f"Run {str(waiting.id)[:8]} is {waiting.status.value} and waits for you: "
                "answer or review it, or tick “start another run anyway”.",
                flash_kind="error",
            )

    if not understood:
        return await _project_page(
            request,
            user,
            project_id,
            422,
            flash="Tick the box to confirm: a run calls models and tools, which may cost money.",
            flash_kind="error",
        )
    try:
        if not user.can_write:
            raise BerrysError(f"Role {user.role.value} can only read.")
        async with _database(request).transaction() as session:
            run = await pipeline.create_from_plan(
                session,
                models=models,
                database=_database(request),
                project_id=project_id,
                run_in=RunCreate(),
                user=user,
            )
    except NotFound:
        raise
    except BerrysError as exc:
        return await _project_page(
            request, user, project_id, exc.status, flash=exc.detail, flash_kind="error"
        )
    return see_other(f"/runs/{run.id}")


async def _run_context(request: Request, user: UserOut, run_id: uuid.UUID) -> dict[str, Any]:
    from berrys.services.agents import service as agents
    from berrys.services.interactions import service as interactions
    from berrys.services.runs.contracts import DONE, RUN_TERMINAL

    async with _database(request).transaction(read_only=True) as session:
        await runs.check_access(session, run_id=run_id, user=user)
        run = await runs.get(session, run_id=run_id, user=user)
        project = await projects.get(session, project_id=run.project_id, user=user)
        members, _ = await agents.get_all(session, project_id=run.project_id, user=user, limit=500)
        steps = await runs.get_steps(session, run_id=run_id)
        pending, _ = await interactions.get_all(
            session, limit=50, offset=0, run_id=run_id, status=InteractionStatus.PENDING
        )
    done = sum(1 for t in run.task_runs if t.status in DONE)
    total = len(run.task_runs)
    names = {agent.id: agent.name for agent in members}
    return {
        "run": run,
        "project": project,
        "tasks": run_detail.task_views(run, steps, names, pending),
        "approvals": run_detail.approval_views(pending, run),
        "done": done,
        "total": total,
        "percent": round(100 * done / total) if total else 0,
        "finished": run.status in RUN_TERMINAL,
        "can_write": user.can_write,
        "review": runs.review_summary(run),
    }


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, user: WebUser, run_id: uuid.UUID) -> Response:
    return render(request, "run.html", **await _run_context(request, user, run_id))


@router.get("/runs/{run_id}/live", response_class=HTMLResponse)
async def run_live(request: Request, user: WebUser, run_id: uuid.UUID) -> Response:
    """The live part of the run page, swapped in on every event."""
    return render(request, "_run_live.html", **await _run_context(request, user, run_id))


@router.get("/runs/{run_id}/tasks", response_class=HTMLResponse)
async def run_tasks(request: Request, user: WebUser, run_id: uuid.UUID) -> Response:
    """The run page's per-task part: artifacts and traces (refreshed when the run ends)."""
    return render(request, "_run_tasks.html", **await _run_context(request, user, run_id))


@router.get("/runs/{run_id}/artifacts/{artifact_id}")
async def download_artifact(
    request: Request, user: WebUser, run_id: uuid.UUID, artifact_id: uuid.UUID
) -> Response:
    """One artifact as a file to save: its file in the run's workspace, else its text."""
    async with _database(request).transaction(read_only=True) as session:
        run = await runs.get(session, run_id=run_id, user=user)  # NotFound for others' runs
    artifact = next((a for a in run.artifacts if a.id == artifact_id), None)
    if artifact is None:
        raise NotFound.of("Artifact", artifact_id)
    name, body = await asyncio.to_thread(
        runs.read_artifact_file, artifact, request.app.state.services.settings.workspaces_dir
    )
    return Response(
        body,
        media_type=runs.artifact_media_type(artifact),
        headers=runs.artifact_download_headers(name),
    )


@router.get("/runs/{run_id}/review", response_class=HTMLResponse)
async def run_review(request: Request, user: WebUser, run_id: uuid.UUID) -> Response:
    """The run page's review part: what needs a person, with accept, edit and send back."""
    return render(request, "_run_review.html", **await _run_context(request, user, run_id))


@router.post(
    "/runs/{run_id}/tasks/{task_run_id}/review", dependencies=[Csrf], response_class=HTMLResponse
)
async def review_task(
    request: Request,
    user: WebUser,
    run_id: uuid.UUID,
    task_run_id: uuid.UUID,
    decision: Annotated[str, Form(max_length=16)],
    content: Annotated[str | None, Form(max_length=500_000)] = None,
    feedback: Annotated[str, Form(max_length=20_000)] = "",
    artifact_id: Annotated[uuid.UUID | None, Form()] = None,
) -> Response:
    """Accept, edit or send back a NEEDS_REVIEW task from the run page."""
    from berrys.services.runs.contracts import TaskReview

    settings = request.app.state.services.settings
    verbs = {"ACCEPT": "Accepted", "EDIT": "Saved your edit of", "SEND_BACK": "Sent back"}
    try:
        if not user.can_write:
            raise BerrysError(f"Role {user.role.value} can only read.")
        if decision.upper() not in verbs:
            raise BerrysError(f"No review decision {decision!r}: accept, edit or send_back")
        body = TaskReview(
            action=decision.upper(),
            content=content.replace("\r\n", "\n") if content is not None else None,
            feedback=feedback.strip() or None,
            artifact_id=artifact_id,
        )
        async with _database(request).transaction() as session:
            run = await runs.decide_review(
                session,
                run_id=run_id,
                task_run_id=task_run_id,
                review=body,
                user=user,
                workspace=settings.workspaces_dir,
            )
    except NotFound:
        raise
    except BerrysError as exc:
        context = await _run_context(request, user, run_id)
        return render(
            request, "run.html", exc.status, flash=exc.detail, flash_kind="error", **context
        )
    name = next((t.name for t in run.task_runs if t.id == task_run_id), "the task")
    context = await _run_context(request, user, run_id)
    return render(request, "run.html", flash=f"{verbs[decision.upper()]} “{name}”.", **context)


@router.get("/runs/{run_id}/events")
async def run_events(request: Request, user: WebUser, run_id: uuid.UUID) -> Response:
    """Server-Sent Events for the page: ``update`` on each batch of run events, ``end``."""
    database = _database(request)
    async with database.transaction(read_only=True) as session:
        await runs.check_access(session, run_id=run_id, user=user)

    async def stream() -> AsyncIterator[str]:
        # Woken when the run's events commit (in any server process), as the API's stream.
        listener: runs.RunEventListener = request.app.state.services.run_events
        with listener.subscribe(run_id, after_seq=0) as subscription:
            async for message in _page_updates(request, database, subscription):
                yield message

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _page_updates(
    request: Request, database: Database, subscription: runs.EventSubscription
) -> AsyncIterator[str]:
    """``update`` with the new events' types each time the run has new events; ``end``."""
    from berrys.services.runs.contracts import RUN_TERMINAL

    reads = runs.follow_outbox(database, subscription, disconnected=request.is_disconnected)
    async for read in reads:
        if read.events:
            payload = {
                "seq": subscription.seen_seq,
                "types": sorted({e["type"] for e in read.events}),
            }
            yield f"event: update\ndata: {json.dumps(payload)}\n\n"
        elif read.status is not None and read.status in RUN_TERMINAL:
            yield f"event: end\ndata: {json.dumps({'status': read.status.value})}\n\n"
            return
        elif read.quiet:
            yield ": keep-alive\n\n"


@router.post("/runs/{run_id}/{control}", dependencies=[Csrf], response_class=HTMLResponse)
async def control_run(request: Request, user: WebUser, run_id: uuid.UUID, control: str) -> Response:
    actions = {"pause": runs.pause, "resume": runs.resume, "cancel": runs.cancel}
    if control not in actions:
        raise NotFound(f"No run control {control!r}")
    try:
        if not user.can_write:
            raise BerrysError(f"Role {user.role.value} can only read.")
        async with _database(request).transaction() as session:
            await runs.check_access(session, run_id=run_id, user=user)
            await actions[control](session, run_id=run_id, user=user)
    except NotFound:
        raise
    except BerrysError as exc:
        context = await _run_context(request, user, run_id)
        return render(
            request, "run.html", exc.status, flash=exc.detail, flash_kind="error", **context
        )
    return see_other(f"/runs/{run_id}")


async def _pending(request: Request, user: UserOut) -> tuple[list[Any], int]:
    from berrys.services.interactions import service as interactions

    async with _database(request).transaction(read_only=True) as session:
        return await interactions.get_all(
            session,
            limit=100,
            offset=0,
            project_ids=await projects.visible_scope(session, user=user),
            status=InteractionStatus.PENDING,
        )


@router.get("/approvals", response_class=HTMLResponse)
async def approvals(request: Request, user: WebUser) -> Response:
    waiting, total = await _pending(request, user)
    return render(
        request,
        "approvals.html",
        waiting=waiting,
        total=total,
        can_write=user.can_write,
        APPROVAL=HumanInteractionType.APPROVAL,
    )


@router.get("/approvals/count", response_class=HTMLResponse)
async def approvals_count(request: Request, user: WebUser) -> Response:
    """The live badge in the navigation."""
    _, total = await _pending(request, user)
    body = f'<span class="badge count" aria-label="{total} waiting">{total}</span>' if total else ""
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


@router.post("/approvals/{interaction_id}", dependencies=[Csrf], response_class=HTMLResponse)
async def answer(
    request: Request,
    user: WebUser,
    interaction_id: uuid.UUID,
    decision: Annotated[str, Form(max_length=16)],
    comment: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    from berrys.services.interactions.contracts import InteractionResponse

    try:
        if not user.can_write:
            raise BerrysError(f"Role {user.role.value} can only read.")
        if decision == "acknowledge":
            response = InteractionResponse(acknowledged=True)
        elif decision == "feedback":
            response = InteractionResponse(feedback=comment.strip())
        elif decision == "answer":
            response = InteractionResponse(answer=comment.strip() or None)
        else:
            response = InteractionResponse(
                approved=decision == "approve", comment=comment.strip() or None
            )
        async with _database(request).transaction() as session:
            answered = await runs.respond_interaction(
                session, interaction_id=interaction_id, response=response, user=user
            )
    except NotFound:
        raise
    except BerrysError as exc:
        waiting, total = await _pending(request, user)
        return render(
            request,
            "approvals.html",
            exc.status,
            waiting=waiting,
            total=total,
            can_write=user.can_write,
            APPROVAL=HumanInteractionType.APPROVAL,
            flash=exc.detail,
            flash_kind="error",
        )
    verb = {"approve": "Approved", "reject": "Rejected"}.get(decision, "Answered")
    waiting, total = await _pending(request, user)
    return render(
        request,
        "approvals.html",
        waiting=waiting,
        total=total,
        can_write=user.can_write,
        APPROVAL=HumanInteractionType.APPROVAL,
        flash=f'{verb} "{answered.title}".',
        answered=answered,
    )
