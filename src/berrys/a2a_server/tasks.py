"""A Berrys run seen as an A2A task: the task id is the run's id, the context id its project's;
the state, the status message and the artifacts are read from the run and what waits for a
person, so nothing about a task is kept anywhere but in Berrys' own tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from a2a.types import Artifact, Message, Part, Role, Task, TaskState, TaskStatus
from google.protobuf.struct_pb2 import Struct

from berrys.core.db import Database
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import (
    HumanInteractionType,
    InteractionOut,
    InteractionStatus,
)
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RUN_TERMINAL, RunOut, RunStatus, TaskRunStatus

# What a person answers (a NOTIFICATION only informs, it asks nothing).
QUESTIONS = frozenset(
    {
        HumanInteractionType.APPROVAL,
        HumanInteractionType.CLARIFICATION,
        HumanInteractionType.FEEDBACK,
    }
)
# States after which a task changes no more, and those that wait for the client.
FINAL_STATES = frozenset(
    {TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELED}
)
INTERRUPTED_STATES = frozenset({TaskState.TASK_STATE_INPUT_REQUIRED})

_STATES = {
    RunStatus.QUEUED: TaskState.TASK_STATE_SUBMITTED,
    RunStatus.RUNNING: TaskState.TASK_STATE_WORKING,
    RunStatus.PAUSED: TaskState.TASK_STATE_WORKING,
    RunStatus.AWAITING_INPUT: TaskState.TASK_STATE_INPUT_REQUIRED,
    RunStatus.COMPLETED: TaskState.TASK_STATE_COMPLETED,
    RunStatus.COMPLETED_WITH_REVIEW: TaskState.TASK_STATE_COMPLETED,
    RunStatus.FAILED: TaskState.TASK_STATE_FAILED,
    RunStatus.CANCELLED: TaskState.TASK_STATE_CANCELED,
}


@dataclass(frozen=True, slots=True)
class RunView:
    """A run with the questions of it that wait for a person, oldest first."""

    run: RunOut
    questions: list[InteractionOut]

    @property
    def state(self) -> TaskState:
        """Input-required while a question waits, whatever the run's own status (a plan
        approval waits before the run is even RUNNING)."""
        if self.questions and self.run.status not in RUN_TERMINAL:
            return TaskState.TASK_STATE_INPUT_REQUIRED
        return _STATES[self.run.status]


def run_id_of(task_id: str) -> uuid.UUID | None:
    """The run a task id names; None for an id that is not a UUID (it names nothing)."""
    try:
        return uuid.UUID(task_id)
    except ValueError:
        return None


async def read(database: Database, *, run_id: uuid.UUID, user: UserOut) -> RunView:
    """The run as ``user`` may see it (NotFound for anyone else's), with its questions."""
    async with database.transaction(read_only=True) as session:
        run = await runs.get(session, run_id=run_id, user=user)
        pending, _ = await interactions.get_all(
            session, limit=50, offset=0, run_id=run_id, status=InteractionStatus.PENDING
        )
    questions = sorted(
        (item for item in pending if item.type in QUESTIONS), key=lambda item: item.created_at
    )
    return RunView(run=run, questions=questions)


def task_of(view: RunView) -> Task:
    """The A2A task: its status (with a message saying what it waits for or how it ended),
    its artifacts, and Berrys' own status in its metadata."""
    metadata = Struct()
    metadata.update(
        {
            "berrys_status": view.run.status.value,
            "project_id": str(view.run.project_id),
            "cost_usd": view.run.cost_usd,
        }
    )
    return Task(
        id=str(view.run.id),
        context_id=str(view.run.project_id),
        status=status_of(view),
        artifacts=artifacts_of(view.run),
        metadata=metadata,
    )


def status_of(view: RunView) -> TaskStatus:
    text = status_text(view)
    status = TaskStatus(state=view.state)
    if text:
        status.message.CopyFrom(agent_message(view.run, text))
    return status


def agent_message(run: RunOut, text: str) -> Message:
    return Message(
        message_id=str(uuid.uuid4()),
        role=Role.ROLE_AGENT,
        task_id=str(run.id),
        context_id=str(run.project_id),
        parts=[Part(text=text)],
    )


def status_text(view: RunView) -> str:
    """What the status says: the question waiting (and how to answer it), why the run
    failed, or that deliverables still wait for a person's review (never a silent
    "completed")."""
    run = view.run
    if view.state == TaskState.TASK_STATE_INPUT_REQUIRED and view.questions:
        return question_text(view.questions[0])
    if run.status == RunStatus.COMPLETED_WITH_REVIEW:
        return _review_text(run)
    if run.status == RunStatus.FAILED:
        failed = [task for task in run.task_runs if task.status == TaskRunStatus.FAILED]
        reasons = "; ".join(f"{task.name}: {task.error or 'failed'}" for task in failed)
        return f"The run failed. {reasons}".strip()
    if run.status == RunStatus.PAUSED:
        return "Paused by a person: no new task starts until the run is resumed."
    if run.status == RunStatus.COMPLETED:
        return f"Completed: {len(run.artifacts)} deliverable(s), every one final."
    return ""


def _review_text(run: RunOut) -> str:
    summary = runs.review_summary(run)
    waiting = ", ".join(item.name for item in summary.tasks)
    return (
        f"Completed, but {summary.needs_review} of {summary.final + summary.needs_review} "
        f"deliverable(s) need a person's review before they are final ({waiting}): accept, "
        "edit or send them back in Berrys (the run's Review page or `berrys review`)."
    )


def question_text(question: InteractionOut) -> str:
    """The question and how to answer it with a follow-up message on the task."""
    if question.type == HumanInteractionType.APPROVAL:
        how = "Reply 'approve' or 'reject', optionally followed by a comment."
    elif question.type == HumanInteractionType.CLARIFICATION:
        how = "Reply with your answer."
    else:
        how = "Reply with your feedback."
    return f"{question.title}\n\n{question.prompt}\n\n{how}".strip()


def artifacts_of(run: RunOut) -> list[Artifact]:
    """Each artifact as an A2A artifact named as its file, its text as one part."""
    return [
        Artifact(
            artifact_id=str(artifact.id),
            name=runs.artifact_file_name(artifact.name, artifact.path),
            description=artifact.name,
            parts=[
                Part(
                    text=artifact.content,
                    media_type=artifact.media_type,
                    filename=runs.artifact_file_name(artifact.name, artifact.path),
                )
            ],
        )
        for artifact in run.artifacts
    ]
