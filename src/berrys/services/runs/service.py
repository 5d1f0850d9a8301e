"""The run service's façade: runs (create, read, control), people's answers and reviews,
artifacts, the run hooks the engine is given, and the engine's interface for whoever runs
it (an executor's side, and the worker)."""

from __future__ import annotations

from berrys.services.runs import _effects
from berrys.services.runs._agui_answers import agent_input as agui_input
from berrys.services.runs._agui_answers import answer_interrupts
from berrys.services.runs._agui_answers import project_description as agui_description
from berrys.services.runs._agui_stream import Position as AguiPosition
from berrys.services.runs._agui_stream import agui_stream
from berrys.services.runs._answers import (
    apply_interaction,
    expire_interactions,
    respond_interaction,
)
from berrys.services.runs._artifacts import download_headers as artifact_download_headers
from berrys.services.runs._artifacts import file_name as artifact_file_name
from berrys.services.runs._artifacts import get as get_artifact
from berrys.services.runs._artifacts import get_all as get_artifacts
from berrys.services.runs._artifacts import get_content as get_artifact_content
from berrys.services.runs._artifacts import media_type as artifact_media_type
from berrys.services.runs._artifacts import read_file as read_artifact_file
from berrys.services.runs._artifacts import safe_file_name
from berrys.services.runs._control import (
    add_events,
    cancel,
    check_access,
    create,
    events,
    get,
    get_all,
    get_status,
    get_steps,
    pause,
    plan_of,
    release_dead_leases,
    requeue,
    resume,
    retry_task,
    task_out,
)
from berrys.services.runs._event_listener import (
    EventSubscription,
    OutboxRead,
    RunEventListener,
    follow_outbox,
)
from berrys.services.runs._health import stalled_runs, task_outcomes
from berrys.services.runs._review import CONFIGURE_MODEL, is_offline
from berrys.services.runs._review import decide as decide_review
from berrys.services.runs._review import get_all as waiting_review
from berrys.services.runs._review import summarize as review_summary
from berrys.services.runs.engine.events import of_project as project_events
from berrys.services.runs.engine.events import read as read_events
from berrys.services.runs.engine.executor import (
    ArtifactSpec,
    PauseRun,
    PermanentTaskError,
    TaskExecutor,
    TaskOutcome,
)
from berrys.services.runs.engine.hooks import RunHooks
from berrys.services.runs.engine.journal import TaskContext, TaskSnapshot
from berrys.services.runs.engine.presence import live as workers
from berrys.services.runs.engine.presence import silent as silent_workers
from berrys.services.runs.engine.trace import MAX_REQUEST as MAX_TRACED_REQUEST
from berrys.services.runs.engine.trace import cut as cut_traced
from berrys.services.runs.engine.worker import EngineConfig, Worker

# What the engine is given by whoever builds a worker: a run's status change is audited and
# moves its project, a task's question is an interaction, unanswered ones expire.
HOOKS = RunHooks(
    status_changed=_effects.status_changed,
    ask_person=_effects.ask_person,
    expire_answers=expire_interactions,
)

__all__ = [
    "CONFIGURE_MODEL",
    "HOOKS",
    "MAX_TRACED_REQUEST",
    "AguiPosition",
    "ArtifactSpec",
    "EngineConfig",
    "EventSubscription",
    "OutboxRead",
    "PauseRun",
    "PermanentTaskError",
    "RunEventListener",
    "TaskContext",
    "TaskExecutor",
    "TaskOutcome",
    "TaskSnapshot",
    "Worker",
    "add_events",
    "agui_description",
    "agui_input",
    "agui_stream",
    "answer_interrupts",
    "apply_interaction",
    "artifact_download_headers",
    "artifact_file_name",
    "artifact_media_type",
    "cancel",
    "check_access",
    "create",
    "cut_traced",
    "decide_review",
    "events",
    "expire_interactions",
    "follow_outbox",
    "get",
    "get_all",
    "get_artifact",
    "get_artifact_content",
    "get_artifacts",
    "get_status",
    "get_steps",
    "is_offline",
    "pause",
    "plan_of",
    "project_events",
    "read_artifact_file",
    "read_events",
    "release_dead_leases",
    "requeue",
    "respond_interaction",
    "resume",
    "retry_task",
    "review_summary",
    "safe_file_name",
    "silent_workers",
    "stalled_runs",
    "task_out",
    "task_outcomes",
    "waiting_review",
    "workers",
]
