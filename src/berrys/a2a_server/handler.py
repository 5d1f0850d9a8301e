"""The A2A request handler: a message with a project description starts a Berrys run through
the pipeline (the same façade ``berrys run`` uses), a follow-up message answers what the run
asks, and the task's updates are read from the run's event outbox. Every call acts for the
user of the request's bearer token, with the checks REST makes."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers import RequestHandler
from a2a.types import (
    AgentCard,
    Artifact,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskPushNotificationConfig,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import (
    ExtendedAgentCardNotConfiguredError,
    InternalError,
    InvalidParamsError,
    InvalidRequestError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf.json_format import MessageToDict
from pydantic import ValidationError

from berrys.a2a_server import tasks
from berrys.a2a_server.tasks import FINAL_STATES, INTERRUPTED_STATES, RunView
from berrys.core.errors import BerrysError, Conflict, Forbidden, NotFound, Unprocessable
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions.contracts import (
    HumanInteractionType,
    InteractionOut,
    InteractionResponse,
)
from berrys.services.pipeline import service as pipeline
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunCreate
from berrys.wiring import Services

# The ServerCallContext state key the HTTP gate stores the authenticated user under.
USER_STATE_KEY = "berrys.user"

_APPROVAL = re.compile(
    r"^\s*(approve|approved|yes|reject|rejected|no)\b[\s:,.!-]*(.*)$", re.I | re.S
)


def user_of(context: ServerCallContext) -> UserOut:
    user = context.state.get(USER_STATE_KEY)
    if not isinstance(user, UserOut):  # the gate refuses a request without a token first
        raise InvalidRequestError(message="Missing bearer token")
    return user


@asynccontextmanager
async def a2a_errors() -> AsyncIterator[None]:
    """Domain errors become the A2A errors a client reads: another user's run is not found,
    as in REST."""
    try:
        yield
    except NotFound as error:
        raise TaskNotFoundError(message=error.detail) from error
    except (Unprocessable, Conflict) as error:
        raise InvalidParamsError(message=f"{error.title}: {error.detail}") from error
    except Forbidden as error:
        raise InvalidRequestError(message=f"{error.title}: {error.detail}") from error
    except BerrysError as error:
        raise InternalError(message=f"{error.title}: {error.detail}") from error
    except ValidationError as error:
        raise InvalidParamsError(message=str(error)) from error


def text_of(message: Message) -> str:
    return "\n".join(part.text for part in message.parts if part.text).strip()


def response_to(question: InteractionOut, text: str) -> InteractionResponse:
    """A person's reply as the answer the question takes (an approval: approve or reject,
    then an optional comment)."""
    if not text:
        raise InvalidParamsError(message="The reply has no text part")
    if question.type == HumanInteractionType.APPROVAL:
        decided = _APPROVAL.match(text)
        if decided is None:
            raise InvalidParamsError(message="Reply 'approve' or 'reject', then a comment")
        approved = decided.group(1).lower() in {"approve", "approved", "yes"}
        return InteractionResponse(approved=approved, comment=decided.group(2).strip() or None)
    if question.type == HumanInteractionType.CLARIFICATION:
        return InteractionResponse(answer=text)
    return InteractionResponse(feedback=text)


def run_options(request: SendMessageRequest) -> RunCreate:
    """Run options from the request's or the message's metadata: ``require_plan_approval``,
    ``budget_usd``."""
    metadata: dict[str, Any] = {
        **MessageToDict(request.message.metadata),
        **MessageToDict(request.metadata),
    }
    return RunCreate(
        require_plan_approval=metadata.get("require_plan_approval"),
        budget_usd=metadata.get("budget_usd"),
    )


class BerrysRequestHandler(RequestHandler):
    """Runs as A2A tasks: no task store of its own, every task is read from its run."""

    def __init__(self, services: Callable[[], Services]) -> None:
        self._services = services

    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task | None:
        async with a2a_errors():
            return tasks.task_of(await self._view(params.id, user_of(context)))

    async def on_list_tasks(
        self, params: ListTasksRequest, context: ServerCallContext
    ) -> ListTasksResponse:
        """The runs of one project (the context id), newest first."""
        project_id = tasks.run_id_of(params.context_id)
        if project_id is None:
            raise InvalidParamsError(message="context_id: a project's id is required")
        user = user_of(context)
        database = self._services().database
        async with a2a_errors():
            async with database.transaction(read_only=True) as session:
                await projects.get(session, project_id=project_id, user=user)
                summaries, total = await runs.get_all(
                    session, project_id=project_id, limit=params.page_size or 50, offset=0
                )
            found = [tasks.task_of(await self._view(str(item.id), user)) for item in summaries]
        if params.HasField("status"):
            found = [task for task in found if task.status.state == params.status]
        return ListTasksResponse(tasks=found, total_size=total, page_size=len(found))

    async def on_cancel_task(
        self, params: CancelTaskRequest, context: ServerCallContext
    ) -> Task | None:
        user = user_of(context)
        view = await self._view(params.id, user)
        if view.state in FINAL_STATES:
            raise TaskNotCancelableError(message=f"The run has ended ({view.run.status.value})")
        async with a2a_errors():
            auth.require_writer(user)
            async with self._services().database.transaction() as session:
                await runs.cancel(session, run_id=view.run.id, user=user)
            return tasks.task_of(await self._view(params.id, user))

    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Task | Message:
        view = await self._deliver(params, user_of(context))
        if not params.configuration.return_immediately:
            async for update in self._updates(view, user_of(context)):
                if isinstance(update, RunView):
                    view = update
        return tasks.task_of(view)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        view = await self._deliver(params, user_of(context))
        yield tasks.task_of(view)
        async for update in self._updates(view, user_of(context)):
            if not isinstance(update, RunView):
                yield update

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        view = await self._view(params.id, user_of(context))
        yield tasks.task_of(view)
        async for update in self._updates(view, user_of(context)):
            if not isinstance(update, RunView):
                yield update

    async def _view(self, task_id: str, user: UserOut) -> RunView:
        run_id = tasks.run_id_of(task_id)
        if run_id is None:
            raise TaskNotFoundError(message=f"No task {task_id!r}")
        async with a2a_errors():
            return await tasks.read(self._services().database, run_id=run_id, user=user)

    async def _deliver(self, params: SendMessageRequest, user: UserOut) -> RunView:
        """A new run for a description, or the answer to what the message's task asks."""
        async with a2a_errors():
            auth.require_writer(user)
        text = text_of(params.message)
        if params.message.task_id:
            return await self._answer(params.message.task_id, text, user)
        if not text:
            raise InvalidParamsError(message="Send the project's description as a text part")
        services = self._services()
        async with a2a_errors():
            started = await pipeline.start_from_description(
                services.models,
                services.database,
                embedder=services.embedder,
                description=text,
                user=user,
                run_in=run_options(params),
                on_created=lambda *_: None,
                on_stage=lambda *_: None,
            )
        return await self._view(str(started.run.id), user)

    async def _answer(self, task_id: str, text: str, user: UserOut) -> RunView:
        """The oldest question of the task answered with ``text``, as ``user`` (audited)."""
        view = await self._view(task_id, user)
        if view.state in FINAL_STATES:
            raise UnsupportedOperationError(message=f"The task has ended ({view.run.status})")
        if not view.questions:
            raise InvalidParamsError(message="Nothing of this task waits for an answer")
        question = view.questions[0]
        async with a2a_errors():
            response = response_to(question, text)
            async with self._services().database.transaction() as session:
                await runs.respond_interaction(
                    session, interaction_id=question.id, response=response, user=user
                )
        return await self._view(task_id, user)

    async def _updates(
        self, view: RunView, user: UserOut
    ) -> AsyncIterator[RunView | TaskStatusUpdateEvent | TaskArtifactUpdateEvent]:
        """Each change of the task until it ends or waits for the client: the run read again
        whenever its outbox has new events, a status update when its state or message
        changed, an artifact update per new artifact."""
        sent_status = view.state, tasks.status_text(view)
        sent_artifacts = {str(artifact.id) for artifact in view.run.artifacts}
        services = self._services()
        if view.state in FINAL_STATES | INTERRUPTED_STATES:
            return
        with services.run_events.subscribe(view.run.id, after_seq=0) as subscription:
            async for read in runs.follow_outbox(
                services.database, subscription, disconnected=_never_disconnected
            ):
                if not read.events:
                    continue
                view = await self._view(str(view.run.id), user)
                yield view
                for artifact in tasks.artifacts_of(view.run):
                    if artifact.artifact_id not in sent_artifacts:
                        sent_artifacts.add(artifact.artifact_id)
                        yield _artifact_update(view, artifact)
                if (view.state, tasks.status_text(view)) != sent_status:
                    sent_status = view.state, tasks.status_text(view)
                    yield _status_update(view)
                if view.state in FINAL_STATES | INTERRUPTED_STATES:
                    return

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        raise PushNotificationNotSupportedError

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        raise PushNotificationNotSupportedError

    async def on_get_extended_agent_card(
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        raise ExtendedAgentCardNotConfiguredError


def _status_update(view: RunView) -> TaskStatusUpdateEvent:
    return TaskStatusUpdateEvent(
        task_id=str(view.run.id),
        context_id=str(view.run.project_id),
        status=tasks.status_of(view),
    )


def _artifact_update(view: RunView, artifact: Artifact) -> TaskArtifactUpdateEvent:
    return TaskArtifactUpdateEvent(
        task_id=str(view.run.id),
        context_id=str(view.run.project_id),
        artifact=artifact,
        last_chunk=True,
    )


async def _never_disconnected() -> bool:
    """The SDK closes the stream itself when its client goes; the updates end with the task."""
    return False
