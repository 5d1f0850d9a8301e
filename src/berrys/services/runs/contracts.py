"""Request and response models of runs, task runs, steps, reviews and artifacts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from berrys.core.contracts import Contract, Description
from berrys.core.enums import BerrysEnum
from berrys.services.catalogue.contracts import DependencyType, RiskLevel


class RunStatus(BerrysEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    AWAITING_INPUT = "AWAITING_INPUT"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    # Every task done, some deliverables wait for a person (NEEDS_REVIEW tasks).
    COMPLETED_WITH_REVIEW = "COMPLETED_WITH_REVIEW"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class TaskRunStatus(BerrysEnum):
    PENDING = "PENDING"
    READY = "READY"
    RUNNING = "RUNNING"
    AWAITING_INPUT = "AWAITING_INPUT"
    COMPLETED = "COMPLETED"
    # Done (successors go on with the draft), but a person must look at the deliverable
    # before it counts as final: accept, edit or send back (runs/_review.py).
    NEEDS_REVIEW = "NEEDS_REVIEW"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"


class ReviewDecision(BerrysEnum):
    """What a person decides about a NEEDS_REVIEW task's deliverable."""

    ACCEPT = "ACCEPT"
    EDIT = "EDIT"
    SEND_BACK = "SEND_BACK"


class StepKind(BerrysEnum):
    """What a recorded step of a task attempt called."""

    MODEL = "MODEL"
    TOOL = "TOOL"


class StepStatus(BerrysEnum):
    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class RunEventType(BerrysEnum):
    """Types of the run outbox's events (one per state change); docs/architecture.md lists them."""

    RUN_CREATED = "RUN_CREATED"
    RUN_STATUS = "RUN_STATUS"
    RUN_PAUSED = "RUN_PAUSED"
    RUN_RESUMED = "RUN_RESUMED"
    RUN_CANCELLED = "RUN_CANCELLED"
    TASK_READY = "TASK_READY"
    TASK_STARTED = "TASK_STARTED"
    TASK_RECLAIMED = "TASK_RECLAIMED"
    TASK_OUTPUT_READY = "TASK_OUTPUT_READY"
    TASK_COMPLETED = "TASK_COMPLETED"
    TASK_NEEDS_REVIEW = "TASK_NEEDS_REVIEW"
    TASK_ACCEPTED = "TASK_ACCEPTED"
    TASK_EDITED = "TASK_EDITED"
    TASK_SENT_BACK = "TASK_SENT_BACK"
    TASK_FAILED = "TASK_FAILED"
    TASK_RETRY_SCHEDULED = "TASK_RETRY_SCHEDULED"
    TASK_RETRIED = "TASK_RETRIED"
    TASK_AWAITING_INPUT = "TASK_AWAITING_INPUT"
    TASK_RESUMED = "TASK_RESUMED"
    TASK_SKIPPED = "TASK_SKIPPED"
    TASK_CANCELLED = "TASK_CANCELLED"
    TASK_DIVERGED = "TASK_DIVERGED"
    TASK_REVIEWED = "TASK_REVIEWED"
    STEP_REISSUED = "STEP_REISSUED"
    INTERACTION_CREATED = "INTERACTION_CREATED"
    INTERACTION_RESOLVED = "INTERACTION_RESOLVED"
    WORKFLOW_STAGE = "WORKFLOW_STAGE"
    DEGRADED = "DEGRADED"


class StepResolution(BerrysEnum):
    """A person's decision about a tool call in flight when its worker stopped."""

    RERUN = "RERUN"
    REJECT = "REJECT"


# A task run in one of these is finished for scheduling: its successors may go on.
DONE = frozenset({TaskRunStatus.COMPLETED, TaskRunStatus.NEEDS_REVIEW, TaskRunStatus.SKIPPED})
TERMINAL = DONE | {TaskRunStatus.FAILED, TaskRunStatus.CANCELLED}
# A run in one of these has ended: nothing runs until a person acts (a retry, a send-back).
RUN_TERMINAL = frozenset(
    {RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_REVIEW, RunStatus.FAILED, RunStatus.CANCELLED}
)
# The good ends: every task done (some may still wait for a person's review).
RUN_DONE = frozenset({RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_REVIEW})


class TaskSpec(Contract):
    """One task of a run's snapshot (taken from a plan version, or given directly)."""

    key: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    acceptance_criteria: list[Any] = Field(default_factory=list)
    risk_level: RiskLevel = RiskLevel.LOW
    agent_id: uuid.UUID | None = None
    plan_task_id: uuid.UUID | None = None
    provider: str | None = None
    spec: dict[str, Any] = Field(default_factory=dict)
    max_attempts: int = Field(default=3, ge=1, le=20)
    timeout_seconds: float | None = Field(default=None, gt=0)


class DependencySpec(Contract):
    from_key: str
    to_key: str
    dependency_type: DependencyType = DependencyType.FS
    lag_hours: float = 0.0


class RunCreate(Contract):
    """POST /projects/{id}/runs: execute the project's current plan (or ``plan_id``)."""

    plan_id: uuid.UUID | None = None
    max_concurrency: int = Field(default=8, ge=1, le=256)
    provider_limits: dict[str, Annotated[int, Field(ge=1, le=256)]] = Field(
        default_factory=dict, description="Tasks at once per provider (1 to 256)."
    )
    budget_usd: float | None = Field(default=None, ge=0)
    require_plan_approval: bool | None = Field(
        default=None, description="Default: the project's `require_plan_approval` setting."
    )
    options: dict[str, Any] = Field(default_factory=dict)


class TaskRunOut(Contract):
    id: uuid.UUID
    key: str
    name: str
    status: TaskRunStatus
    attempt: int
    failures: int
    max_attempts: int
    agent_id: uuid.UUID | None
    plan_task_id: uuid.UUID | None
    risk_level: RiskLevel
    output: dict[str, Any] | None
    error: str | None
    cost_usd: float
    tokens: int
    lease_owner: str | None
    started_at: datetime | None
    finished_at: datetime | None
    review_reasons: list[str] = Field(
        default_factory=list,
        description="NEEDS_REVIEW: why a person must look at the deliverable before it is final.",
    )


class DependencyOut(Contract):
    from_task_run_id: uuid.UUID
    to_task_run_id: uuid.UUID
    dependency_type: DependencyType
    lag_hours: float


class ArtifactOut(Contract):
    id: uuid.UUID
    task_run_id: uuid.UUID
    name: str
    media_type: str
    content: str
    path: str | None
    produced_by: str | None
    created_at: datetime


class ArtifactSummary(Contract):
    """One artifact in a project's list: what it is, which task of which run made it, and
    how many bytes its content (``GET /api/v1/artifacts/{id}/content``) has."""

    id: uuid.UUID
    project_id: uuid.UUID
    run_id: uuid.UUID
    task_run_id: uuid.UUID
    task_name: str
    name: str
    file_name: str = Field(description="The name the content downloads as.")
    path: str | None
    media_type: str
    size: int = Field(description="Bytes of the content: the workspace file, else the text.")
    produced_by: str | None
    created_at: datetime


class StepOut(Contract):
    """One recorded model or tool call of a task attempt (the journal), for its trace."""

    id: uuid.UUID
    task_run_id: uuid.UUID
    attempt: int
    seq: int
    kind: StepKind
    name: str
    status: StepStatus
    idempotent: bool
    calls: int
    request: Any = Field(
        default=None,
        description="What the call was asked: a model call's messages, task type, tools and "
        "model; a tool call's arguments. Each text keeps its first 8,000 characters and a "
        "request 64,000 in all; a cut text ends with '… [N more characters not kept]'. "
        "null for steps recorded before requests were kept.",
    )
    result: dict[str, Any] | None
    error: str | None
    cost_usd: float
    tokens: int
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None


class RunOut(Contract):
    id: uuid.UUID
    project_id: uuid.UUID
    plan_id: uuid.UUID | None
    plan_version: int | None
    status: RunStatus
    paused: bool
    max_concurrency: int
    budget_usd: float | None
    cost_usd: float
    tokens: int
    options: dict[str, Any]
    gate_interaction_id: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    task_runs: list[TaskRunOut] = Field(default_factory=list)
    dependencies: list[DependencyOut] = Field(default_factory=list)
    artifacts: list[ArtifactOut] = Field(default_factory=list)


class RunSummary(Contract):
    id: uuid.UUID
    project_id: uuid.UUID
    status: RunStatus
    cost_usd: float
    tokens: int
    created_at: datetime
    finished_at: datetime | None


class RunEventOut(Contract):
    seq: int
    type: str
    task_run_id: str | None
    payload: dict[str, Any]
    created_at: str


class AguiProject(Contract):
    """POST /agui without ``resume``: the project its last user message describes."""

    description: Description = Field(min_length=1)


class TaskReview(Contract):
    """POST /runs/{run_id}/tasks/{task_run_id}/review: a person's decision on a NEEDS_REVIEW
    task. ACCEPT and EDIT make it COMPLETED; SEND_BACK runs it again with the feedback."""

    action: ReviewDecision
    content: str | None = Field(
        default=None,
        max_length=500_000,
        description="EDIT: the person's text, replacing the artifact and its workspace file.",
    )
    artifact_id: uuid.UUID | None = Field(
        default=None, description="EDIT: which artifact (default: the task's first)."
    )
    feedback: str | None = Field(
        default=None, max_length=20_000, description="SEND_BACK: what to change (required)."
    )
    comment: str | None = Field(default=None, max_length=2_000)

    @model_validator(mode="before")
    @classmethod
    def _decision(cls, data: Any) -> Any:
        """The REST contract's spelling, ``{"decision": "ACCEPT|EDIT|RETURN", "comment"}``,
        is the same request: RETURN sends back, with the comment as the feedback."""
        if not isinstance(data, dict) or "decision" not in data:
            return data
        data = dict(data)
        decision = data.pop("decision")
        if isinstance(decision, str) and decision.upper() == "RETURN":
            decision = ReviewDecision.SEND_BACK.value
            data.setdefault("feedback", data.get("comment"))
        data.setdefault("action", decision)
        return data


class ReviewItem(Contract):
    """A task whose deliverable waits for a person."""

    run_id: uuid.UUID
    project_id: uuid.UUID
    task_run_id: uuid.UUID
    key: str
    name: str
    reasons: list[str]
    produced_by: str | None
    offline: bool = Field(description="Drafted without a capable model (rules, offline).")
    artifacts: list[ArtifactOut] = Field(default_factory=list)
    finished_at: datetime | None


class ReviewSummary(Contract):
    """How many of a run's deliverables are final, how many wait for a person and why."""

    status: RunStatus
    final: int
    needs_review: int
    not_done: int
    reasons: dict[str, int] = Field(default_factory=dict)
    offline_drafts: int = 0
    make_final: list[str] = Field(default_factory=list)
    tasks: list[ReviewItem] = Field(default_factory=list)


class WorkerOut(Contract):
    """A live worker of the run engine (its heartbeat has not expired)."""

    id: str = Field(description="The worker's id: host:pid:suffix.")
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime = Field(description="When it last renewed its heartbeat.")
    expires_at: datetime = Field(description="When it counts as gone without a heartbeat.")
    tasks_held: int = Field(description="Task runs RUNNING under its lease now.")
    concurrency: int = Field(description="Tasks it runs at once at most.")
    draining: bool = Field(description="Stopping: it claims nothing more.")


class TaskOutcomes(Contract):
    """How the tasks that finished in a window ended (alerts on failure rates read it)."""

    finished: int
    failed: int


class StalledRun(Contract):
    """A QUEUED or RUNNING run and the last time anything happened to it."""

    run_id: uuid.UUID
    project_id: uuid.UUID
    status: RunStatus
    last_activity_at: datetime
