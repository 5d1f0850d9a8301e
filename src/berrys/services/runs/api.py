"""REST routes of runs: start, read, control and answer runs; reviews, artifacts, events (SSE);
a run as an AG-UI event stream, and the AG-UI agent endpoint that starts or resumes one."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from ag_ui.core import RunAgentInput
from fastapi import APIRouter, Body, Depends, Header, Query, Request, status
from fastapi.responses import Response, StreamingResponse

from berrys.core.contracts import MAX_BIGINT, ListOf
from berrys.core.db import Database
from berrys.core.deps import DatabaseDep, PageDep, Session, SettingsDep
from berrys.services.auth.contracts import UserOut
from berrys.services.auth.deps import AdminUser, CurrentUser, WriterUser
from berrys.services.llm.deps import EmbedderDep, ModelsDep
from berrys.services.pipeline import service as pipeline
from berrys.services.projects.deps import VisibleProject, WritableProject
from berrys.services.runs import _artifacts, _review, service
from berrys.services.runs.contracts import (
    RUN_TERMINAL,
    ArtifactSummary,
    ReviewItem,
    ReviewSummary,
    RunCreate,
    RunOut,
    RunStatus,
    RunSummary,
    StepOut,
    TaskReview,
    WorkerOut,
)
from berrys.services.runs.deps import RunEventListenerDep
from berrys.services.runs.service import AguiPosition, RunEventListener

project_runs_router = APIRouter(prefix="/api/v1/projects", tags=["runs"])
router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
reviews_router = APIRouter(prefix="/api/v1/reviews", tags=["runs"])
artifacts_router = APIRouter(prefix="/api/v1/artifacts", tags=["artifacts"])
workers_router = APIRouter(prefix="/api/v1/workers", tags=["workers"])
agui_router = APIRouter(prefix="/api/v1/agui", tags=["agui"])

_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _visible_run(run_id: uuid.UUID, user: CurrentUser, database: DatabaseDep) -> UserOut:
    async with database.transaction(read_only=True) as session:
        await service.check_access(session, run_id=run_id, user=user)
    return user


async def _writable_run(run_id: uuid.UUID, user: WriterUser, database: DatabaseDep) -> UserOut:
    async with database.transaction(read_only=True) as session:
        await service.check_access(session, run_id=run_id, user=user)
    return user


RunReader = Annotated[UserOut, Depends(_visible_run)]
RunWriter = Annotated[UserOut, Depends(_writable_run)]


@project_runs_router.post(
    "/{project_id}/runs", response_model=RunOut, status_code=status.HTTP_202_ACCEPTED
)
async def start_run(
    project: WritableProject,
    body: RunCreate,
    models: ModelsDep,
    session: Session,
    database: DatabaseDep,
    user: WriterUser,
) -> RunOut:
    """Start executing the project's current plan (or ``plan_id``); 202 with the run."""
    return await pipeline.create_from_plan(
        session, models=models, database=database, project_id=project.id, run_in=body, user=user
    )


@project_runs_router.get("/{project_id}/runs", response_model=ListOf[RunSummary])
async def list_runs(project: VisibleProject, session: Session, page: PageDep) -> ListOf[RunSummary]:
    items, total = await service.get_all(
        session, project_id=project.id, limit=page.limit, offset=page.offset
    )
    return ListOf[RunSummary](items=items, total=total)


@router.get("/{run_id}", response_model=RunOut)
async def get_run(run_id: uuid.UUID, user: RunReader, session: Session) -> RunOut:
    """Status, task runs with status, attempts and output, artifacts, cost."""
    return await service.get(session, run_id=run_id, user=user)


@router.get(
    "/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def run_events(
    run_id: uuid.UUID,
    request: Request,
    user: RunReader,
    database: DatabaseDep,
    listener: RunEventListenerDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_BIGINT, description="Send events after this seq.")
    ] = 0,
    follow: Annotated[bool, Query(description="Keep streaming until the run ends.")] = True,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events read from the run's outbox: ``id`` is the event's seq, ``event`` its
    type, ``data`` the event as JSON. Reconnect with ``Last-Event-ID`` (to any server of the
    deployment) to resume."""
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after

    async def stream() -> AsyncIterator[str]:
        with listener.subscribe(run_id, after_seq=start) as subscription:
            async for message in _outbox_messages(request, database, subscription, follow):
                yield message

    return StreamingResponse(stream(), media_type="text/event-stream", headers=_STREAM_HEADERS)


async def _outbox_messages(
    request: Request, database: Database, subscription: service.EventSubscription, follow: bool
) -> AsyncIterator[str]:
    """The run's events after ``subscription.seen_seq`` as SSE messages, read again each
    time the subscription wakes; ``end`` once the run is over (or at once without ``follow``)."""
    reads = service.follow_outbox(database, subscription, disconnected=request.is_disconnected)
    async for read in reads:
        for event in read.events:
            yield f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"
        if read.events:
            continue
        if read.status in RUN_TERMINAL or not follow:
            status = read.status.value if read.status else None
            payload = json.dumps({"status": status, "seq": subscription.seen_seq})
            yield f"event: end\ndata: {payload}\n\n"
            return
        if read.quiet:
            yield ": keep-alive\n\n"


_AGUI_STREAM = {
    "content": {"text/event-stream": {}},
    "description": "AG-UI events as SSE (`data:` the event's JSON, `id:` `<seq>:<index>`), up "
    "to the end of one AG-UI run: RUN_FINISHED (done, cancelled, or an interrupt: approvals "
    "the run waits for) or RUN_ERROR.",
}


@router.get(
    "/{run_id}/agui",
    summary="The run as AG-UI events",
    response_class=StreamingResponse,
    responses={
        200: _AGUI_STREAM,
        204: {"description": "Nothing after `Last-Event-ID`, and the run is over."},
    },
)
async def run_as_agui(
    run_id: uuid.UUID,
    request: Request,
    user: RunReader,
    database: DatabaseDep,
    listener: RunEventListenerDep,
    last_event_id: Annotated[
        str | None,
        Header(max_length=40, description="Resume after this event: `<seq>` or `<seq>:<index>`."),
    ] = None,
) -> Response:
    """The run's outbox as an AG-UI event stream: RUN_STARTED (threadId the project, runId
    the run) with a STATE_SNAPSHOT of the tasks' statuses, a step per task with its tool
    calls and output, STATE_DELTAs, and the end of that AG-UI run. A run that waits for a
    person ends an AG-UI run with an interrupt; reconnect with ``Last-Event-ID`` (to any
    server) for the next one, nothing lost or repeated."""
    after = AguiPosition.parse(last_event_id)
    return await _agui_response(request, database, listener, run_id=run_id, after=after)


@agui_router.post(
    "",
    response_class=StreamingResponse,
    responses={200: _AGUI_STREAM},
    summary="AG-UI agent: start a project's run, or answer its interrupts",
)
async def agui_agent(
    body: Annotated[
        dict[str, Any],
        Body(
            description="An AG-UI 1.0 `RunAgentInput`: `threadId`, `runId`, `messages`, and "
            "`resume` (each `{interruptId, status, payload}`) to answer interrupts."
        ),
    ],
    request: Request,
    user: WriterUser,
    models: ModelsDep,
    embedder: EmbedderDep,
    database: DatabaseDep,
    listener: RunEventListenerDep,
) -> Response:
    """AG-UI's agent endpoint. Without ``resume``: the last user message describes a project,
    which Berrys understands, staffs, plans and starts running (as ``berrys run`` does); the
    answer is that run's AG-UI stream. With ``resume``: the caller's answers to every
    interrupt the run's last AG-UI run ended with (``payload`` an approval's ``{approved,
    comment}``; ``cancelled`` declines), then the run's next AG-UI run."""
    given = service.agui_input(body)
    if given.resume:
        run_id, after = await service.answer_interrupts(database, entries=given.resume, user=user)
    else:
        started = await pipeline.start_from_description(
            models,
            database,
            embedder=embedder,
            description=service.agui_description(given),
            user=user,
            run_in=RunCreate(),
            on_created=lambda _project_id, _name: None,
            on_stage=lambda _stage, _status, _detail: None,
        )
        run_id, after = started.run.id, None
    return await _agui_response(
        request, database, listener, run_id=run_id, after=after, given=given
    )


async def _agui_response(
    request: Request,
    database: Database,
    listener: RunEventListener,
    *,
    run_id: uuid.UUID,
    after: AguiPosition | None,
    given: RunAgentInput | None = None,
) -> Response:
    """The run's AG-UI stream after ``after``; 204 when the run is over and nothing is left
    (an SSE client then stops reconnecting)."""
    stream = service.agui_stream(
        database,
        listener,
        run_id=run_id,
        after=after,
        disconnected=request.is_disconnected,
        given=given,
    )
    async with database.transaction(read_only=True) as session:
        over = await service.get_status(session, run_id=run_id) in RUN_TERMINAL
    if over:  # everything is in the outbox: the first message comes at once, if there is one
        first = await anext(stream, None)
        if first is None:
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        stream = _chained(first, stream)
    return StreamingResponse(stream, media_type="text/event-stream", headers=_STREAM_HEADERS)


async def _chained(first: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    yield first
    async for message in rest:
        yield message


@router.post("/{run_id}/pause", response_model=RunOut)
async def pause_run(run_id: uuid.UUID, user: RunWriter, session: Session) -> RunOut:
    """No new task starts; illegal (409) once the run has ended or is already paused."""
    return await service.pause(session, run_id=run_id, user=user)


@router.post("/{run_id}/resume", response_model=RunOut)
async def resume_run(run_id: uuid.UUID, user: RunWriter, session: Session) -> RunOut:
    """Resume a paused run; 409 when it is not paused."""
    return await service.resume(session, run_id=run_id, user=user)


@router.post("/{run_id}/cancel", response_model=RunOut)
async def cancel_run(run_id: uuid.UUID, user: RunWriter, session: Session) -> RunOut:
    """Cancel every unfinished task; 409 once the run has ended."""
    return await service.cancel(session, run_id=run_id, user=user)


@router.post("/{run_id}/tasks/{task_run_id}/retry", response_model=RunOut)
async def retry_task(
    run_id: uuid.UUID, task_run_id: uuid.UUID, user: RunWriter, session: Session
) -> RunOut:
    """Give a FAILED task a fresh attempt; 409 for a task that has not failed."""
    return await service.retry_task(session, run_id=run_id, task_run_id=task_run_id, user=user)


@router.get("/{run_id}/review", response_model=ReviewSummary)
async def run_review(run_id: uuid.UUID, user: RunReader, session: Session) -> ReviewSummary:
    """How many deliverables are final, which need a person (NEEDS_REVIEW) and why, and what
    would make them final."""
    return _review.summarize(await service.get(session, run_id=run_id, user=user))


@router.get("/{run_id}/steps", response_model=ListOf[StepOut])
async def run_steps(
    run_id: uuid.UUID,
    user: RunReader,
    session: Session,
    task_run_id: Annotated[uuid.UUID | None, Query(description="Only this task's.")] = None,
) -> ListOf[StepOut]:
    """The trace: every recorded model and tool call (its result, tokens, cost, timing) by
    task, attempt and order."""
    items = await service.get_steps(session, run_id=run_id, task_run_id=task_run_id)
    return ListOf[StepOut](items=items, total=len(items))


@router.post("/{run_id}/tasks/{task_run_id}/review", response_model=RunOut)
async def review_task(
    run_id: uuid.UUID,
    task_run_id: uuid.UUID,
    body: TaskReview,
    user: RunWriter,
    session: Session,
    settings: SettingsDep,
) -> RunOut:
    """A person's decision on a NEEDS_REVIEW task: ACCEPT or EDIT (``content`` replaces the
    artifact and its file) make it COMPLETED, SEND_BACK runs it again with ``feedback``
    (successors are not run again). 409 naming the allowed moves for any other task."""
    return await _review.decide(
        session,
        run_id=run_id,
        task_run_id=task_run_id,
        review=body,
        user=user,
        workspace=settings.workspaces_dir,
    )


@reviews_router.get("", response_model=ListOf[ReviewItem])
async def list_reviews(
    user: CurrentUser,
    session: Session,
    project_id: Annotated[uuid.UUID | None, Query(description="Only this project's.")] = None,
) -> ListOf[ReviewItem]:
    """Every NEEDS_REVIEW task the caller may see, oldest first: what is waiting for a person."""
    items = await _review.get_all(session, user=user, project_id=project_id)
    return ListOf[ReviewItem](items=items, total=len(items))


@project_runs_router.get(
    "/{project_id}/artifacts", response_model=ListOf[ArtifactSummary], tags=["artifacts"]
)
async def list_artifacts(
    project: VisibleProject,
    user: CurrentUser,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
) -> ListOf[ArtifactSummary]:
    """What the project's runs produced, newest first: each with its task and run, media type
    and size (its content: ``GET /api/v1/artifacts/{id}/content``)."""
    items, total = await _artifacts.get_all(
        session,
        project_id=project.id,
        user=user,
        workspaces=settings.workspaces_dir,
        limit=page.limit,
        offset=page.offset,
    )
    return ListOf[ArtifactSummary](items=items, total=total)


@artifacts_router.get("/{artifact_id}", response_model=ArtifactSummary)
async def get_artifact(
    artifact_id: uuid.UUID, user: CurrentUser, session: Session, settings: SettingsDep
) -> ArtifactSummary:
    """One artifact's metadata; 404 for one in someone else's project."""
    return await _artifacts.get(
        session, artifact_id=artifact_id, user=user, workspaces=settings.workspaces_dir
    )


@artifacts_router.get(
    "/{artifact_id}/content",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
async def get_artifact_content(
    artifact_id: uuid.UUID, user: CurrentUser, session: Session, settings: SettingsDep
) -> Response:
    """The artifact as a file to save (``Content-Disposition: attachment``) with its media
    type: its file in the run's workspace (a spreadsheet is not its text), else its text."""
    artifact = await _artifacts.get_content(session, artifact_id=artifact_id, user=user)
    name, body = await asyncio.to_thread(_artifacts.read_file, artifact, settings.workspaces_dir)
    return Response(
        body, media_type=_artifacts.media_type(artifact), headers=_artifacts.download_headers(name)
    )


__all__ = [
    "RunStatus",
    "agui_router",
    "artifacts_router",
    "project_runs_router",
    "reviews_router",
    "router",
]


@workers_router.get("", response_model=ListOf[WorkerOut])
async def list_workers(session: Session, _: AdminUser) -> ListOf[WorkerOut]:
    """The live workers of the run engine, oldest first: where each runs, its last
    heartbeat and the tasks it holds (ADMIN only)."""
    items = await service.workers(session)
    return ListOf[WorkerOut](items=items, total=len(items))
