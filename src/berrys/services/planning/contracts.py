"""Request and response models of planning: plans, tasks, dependencies, phases, schedules."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, Field, StringConstraints, model_validator

from berrys.core.contracts import Contract, Description, Name
from berrys.core.enums import BerrysEnum, Priority
from berrys.services.audit.contracts import AuditAction
from berrys.services.catalogue.contracts import DependencyType, Methodology, RiskLevel


class TaskStatus(BerrysEnum):
    PENDING = "PENDING"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    BLOCKED = "BLOCKED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class OptimizationTarget(BerrysEnum):
    TIME = "TIME"
    COST = "COST"
    BALANCED = "BALANCED"


class BottleneckKind(BerrysEnum):
    OVER_ALLOCATION = "OVER_ALLOCATION"
    SKILL_GAP = "SKILL_GAP"
    DEPENDENCY_HUB = "DEPENDENCY_HUB"
    LONG_CHAIN = "LONG_CHAIN"


Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Items = Annotated[list[Item], Field(max_length=100)]
Skill = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=100)
]
Skills = Annotated[list[Skill], Field(max_length=50)]
Hours = Annotated[float, Field(gt=0, le=100_000, description="Working hours, positive.")]
LagHours = Annotated[
    float, Field(ge=-10_000, le=10_000, description="Working hours; negative is a lead.")
]


# --- calendar ------------------------------------------------------------------------------

# Half an hour a day at least: a 100,000-hour task on less would need millennia of days.
MIN_HOURS_PER_DAY = 0.5
# A plan starts in this range: its dates (to year 9999) then have room for any real span.
EARLIEST_START = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_START = datetime(3000, 1, 1, tzinfo=UTC)


def _plausible_start(value: datetime) -> datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not EARLIEST_START <= aware < LATEST_START:
        raise ValueError(
            f"start_at must be from {EARLIEST_START.year} up to {LATEST_START.year} (exclusive)"
        )
    return value


StartAt = Annotated[
    datetime,
    AfterValidator(_plausible_start),
    Field(description=f"From {EARLIEST_START.year} up to {LATEST_START.year} (exclusive)."),
]


class WorkCalendarSpec(Contract):
    """When work happens: the schedule counts working hours and maps them onto these days."""

    hours_per_day: float = Field(
        default=8.0,
        ge=MIN_HOURS_PER_DAY,
        le=24,
        description=f"Working hours a day, {MIN_HOURS_PER_DAY} to 24.",
    )
    working_days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        min_length=1,
        max_length=7,
        description="ISO weekdays counted from Monday = 0.",
    )
    day_start_hour: float = Field(default=9.0, ge=0, lt=24)
    holidays: list[date] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _fits_in_a_day(self) -> WorkCalendarSpec:
        if self.day_start_hour + self.hours_per_day > 24:
            raise ValueError("day_start_hour + hours_per_day must not pass midnight")
        self.working_days = sorted(set(self.working_days))
        return self


# --- plans ---------------------------------------------------------------------------------


class PlanCreate(Contract):
    methodology: Methodology | None = Field(
        default=None, description="AGILE, WATERFALL or CRITICAL_PATH (default CRITICAL_PATH)."
    )
    generate: bool = Field(
        default=True, description="Draft phases, tasks and dependencies; false: an empty plan."
    )
    name: Name | None = None
    start_at: StartAt | None = Field(default=None, description="Default: now.")
    calendar: WorkCalendarSpec | None = Field(
        default=None, description="Default: the project's metadata.calendar, else 8 h Mon-Fri."
    )


class PlanUpdate(Contract):
    name: Name | None = None
    start_at: StartAt | None = None
    calendar: WorkCalendarSpec | None = None
    is_current: Literal[True] | None = Field(
        default=None, description="true makes this version the project's current plan."
    )


class PlanClone(Contract):
    make_current: bool = True


class PlanOut(Contract):
    id: uuid.UUID
    project_id: uuid.UUID
    version: int
    is_current: bool
    name: str
    methodology: Methodology
    start_at: datetime
    calendar: WorkCalendarSpec
    parent_id: uuid.UUID | None
    generated_by: str | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class PhaseCreate(Contract):
    name: Name
    description: Description = ""
    position: int | None = Field(default=None, ge=0, le=10_000)


class PhaseOut(Contract):
    id: uuid.UUID
    name: str
    description: str
    position: int


class MilestoneCreate(Contract):
    name: Name
    description: Description = ""
    phase_id: uuid.UUID | None = None
    task_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)


class MilestoneOut(Contract):
    id: uuid.UUID
    name: str
    description: str
    phase_id: uuid.UUID | None
    task_ids: list[uuid.UUID]


class ResourceCreate(Contract):
    """An agent of the project (``agent_id``) or a named person (no ``agent_id``)."""

    agent_id: uuid.UUID | None = None
    name: Name | None = Field(default=None, description="Required for a person.")
    skills: Skills | None = Field(default=None, description="Default: the agent's skills.")
    capacity_hours_per_week: float = Field(default=40.0, gt=0, le=168)
    cost_per_hour: float = Field(default=0.0, ge=0, le=100_000)


class ResourceOut(Contract):
    id: uuid.UUID
    agent_id: uuid.UUID | None
    name: str
    skills: list[str]
    capacity_hours_per_week: float
    cost_per_hour: float


def _check_estimates(
    optimistic: float | None, most_likely: float | None, pessimistic: float | None
) -> None:
    if most_likely is None:
        return
    if optimistic is not None and optimistic > most_likely:
        raise ValueError("optimistic_hours must not exceed estimate_hours")
    if pessimistic is not None and pessimistic < most_likely:
        raise ValueError("pessimistic_hours must not be below estimate_hours")


class TaskCreate(Contract):
    name: Name
    description: Description = ""
    acceptance_criteria: Items = Field(default_factory=list)
    estimate_hours: Hours = Field(description="Most likely duration in working hours.")
    optimistic_hours: Hours | None = None
    pessimistic_hours: Hours | None = None
    required_skills: Skills = Field(default_factory=list)
    priority: Priority = Priority.MEDIUM
    risk_level: RiskLevel = RiskLevel.LOW
    status: TaskStatus = TaskStatus.PENDING
    assigned_agent_id: uuid.UUID | None = None
    assigned_resource_id: uuid.UUID | None = None
    phase_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _ordered_estimates(self) -> TaskCreate:
        _check_estimates(self.optimistic_hours, self.estimate_hours, self.pessimistic_hours)
        return self


class TaskUpdate(Contract):
    name: Name | None = None
    description: Description | None = None
    acceptance_criteria: Items | None = None
    estimate_hours: Hours | None = None
    optimistic_hours: Hours | None = None
    pessimistic_hours: Hours | None = None
    required_skills: Skills | None = None
    priority: Priority | None = None
    risk_level: RiskLevel | None = None
    status: TaskStatus | None = None
    assigned_agent_id: uuid.UUID | None = None
    assigned_resource_id: uuid.UUID | None = None
    phase_id: uuid.UUID | None = None


class TaskOut(Contract):
    id: uuid.UUID
    plan_id: uuid.UUID
    phase_id: uuid.UUID | None
    position: int
    name: str
    description: str
    acceptance_criteria: list[str]
    estimate_hours: float
    optimistic_hours: float | None
    pessimistic_hours: float | None
    duration_hours: float = Field(
        description="estimate_hours, or the PERT mean when optimistic and pessimistic are given."
    )
    required_skills: list[str]
    priority: Priority
    risk_level: RiskLevel
    status: TaskStatus
    assigned_agent_id: uuid.UUID | None
    assigned_resource_id: uuid.UUID | None
    not_before_hours: float | None
    deliverable: str | None = Field(
        default=None, description="The deliverable type (catalogue key) the task hands over."
    )
    created_at: datetime
    updated_at: datetime


class DependencyCreate(Contract):
    from_task_id: uuid.UUID
    to_task_id: uuid.UUID
    type: DependencyType = DependencyType.FS
    lag_hours: LagHours = 0.0


class DependencyOut(Contract):
    id: uuid.UUID
    from_task_id: uuid.UUID
    to_task_id: uuid.UUID
    type: DependencyType = Field(validation_alias=AliasChoices("dependency_type", "type"))
    lag_hours: float


class PlanDetail(PlanOut):
    phases: list[PhaseOut]
    milestones: list[MilestoneOut]
    tasks: list[TaskOut]
    dependencies: list[DependencyOut]
    resources: list[ResourceOut]


class PlanChangeOut(Contract):
    id: uuid.UUID
    action: AuditAction
    entity_type: str
    entity_id: uuid.UUID | None
    summary: str
    changed_by: uuid.UUID | None
    changed_at: datetime


# --- schedule, forecast, resources, bottlenecks, what-if -------------------------------------


class ScheduledTask(Contract):
    task_id: uuid.UUID
    name: str
    duration_hours: float
    es_hours: float
    ef_hours: float
    ls_hours: float
    lf_hours: float
    early_start: datetime
    early_finish: datetime
    late_start: datetime
    late_finish: datetime
    total_slack_hours: float
    free_slack_hours: float
    critical: bool
    assigned_agent_id: uuid.UUID | None


class Forecast(Contract):
    """The deterministic finish and the Monte Carlo percentiles of PERT durations."""

    date: datetime
    p50: datetime
    p80: datetime
    p95: datetime
    p50_hours: float
    p80_hours: float
    p95_hours: float
    iterations: int
    seed: int


class MilestoneForecast(Contract):
    milestone_id: uuid.UUID
    name: str
    finish_hours: float
    finish: datetime


class ScheduleOut(Contract):
    plan_id: uuid.UUID
    start_at: datetime
    tasks: list[ScheduledTask]
    critical_path: list[uuid.UUID]
    finish_hours: float
    finish: Forecast
    milestones: list[MilestoneForecast]


class OverAllocation(Contract):
    start_hours: float
    end_hours: float
    load: float = Field(description="Tasks at once.")
    capacity: float = Field(description="Tasks at once the resource can carry.")
    task_ids: list[uuid.UUID]


class ResourceLoad(Contract):
    resource_id: uuid.UUID | None = Field(description="None for an agent without a resource row.")
    agent_id: uuid.UUID | None
    name: str
    capacity_hours_per_week: float
    allocated_hours: float
    task_ids: list[uuid.UUID]
    over_allocations: list[OverAllocation]


class ResourcesOut(Contract):
    resources: list[ResourceLoad]
    unassigned_task_ids: list[uuid.UUID]


class AssignRequest(Contract):
    optimization_target: OptimizationTarget = Field(
        default=OptimizationTarget.BALANCED,
        description="TIME balances hours, COST takes the cheapest agent, BALANCED weighs both.",
    )
    reassign_all: bool = Field(default=False, description="Default: only unassigned tasks.")


class AssignOut(Contract):
    assigned: dict[uuid.UUID, uuid.UUID | None] = Field(description="task id -> agent id")


class LevelRequest(Contract):
    apply: bool = Field(default=False, description="Save the shifted starts on the tasks.")


class TaskShift(Contract):
    task_id: uuid.UUID
    from_hours: float
    to_hours: float
    within_slack: bool


class LevelOut(Contract):
    finish_hours_before: float
    finish_hours_after: float
    shifts: list[TaskShift]
    applied: bool


class Bottleneck(Contract):
    kind: BottleneckKind
    severity: RiskLevel
    detail: str
    task_ids: list[uuid.UUID] = Field(default_factory=list)
    agent_id: uuid.UUID | None = None
    resource_id: uuid.UUID | None = None
    metric: float


class BottlenecksOut(Contract):
    plan_id: uuid.UUID
    bottlenecks: list[Bottleneck]


class EstimateChange(Contract):
    change: Literal["ESTIMATE"] = "ESTIMATE"
    task_id: uuid.UUID
    estimate_hours: Hours | None = None
    optimistic_hours: Hours | None = None
    pessimistic_hours: Hours | None = None


class RemoveResourceChange(Contract):
    change: Literal["REMOVE_RESOURCE"] = "REMOVE_RESOURCE"
    agent_id: uuid.UUID | None = None
    resource_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_of(self) -> RemoveResourceChange:
        if (self.agent_id is None) == (self.resource_id is None):
            raise ValueError("give exactly one of agent_id and resource_id")
        return self


class AddDependencyChange(DependencyCreate):
    change: Literal["ADD_DEPENDENCY"] = "ADD_DEPENDENCY"


class RemoveDependencyChange(Contract):
    change: Literal["REMOVE_DEPENDENCY"] = "REMOVE_DEPENDENCY"
    dependency_id: uuid.UUID


WhatIfChange = Annotated[
    EstimateChange | RemoveResourceChange | AddDependencyChange | RemoveDependencyChange,
    Field(discriminator="change"),
]


class WhatIfRequest(Contract):
    changes: list[WhatIfChange] = Field(min_length=1, max_length=500)
    optimization_target: OptimizationTarget = OptimizationTarget.BALANCED


class ScheduleSummary(Contract):
    finish_hours: float
    finish: datetime
    levelled_finish_hours: float = Field(description="With each resource's capacity honoured.")
    critical_path: list[uuid.UUID]


class TaskDelta(Contract):
    task_id: uuid.UUID
    es_hours_before: float
    es_hours_after: float
    ef_hours_before: float
    ef_hours_after: float
    assigned_agent_id_before: uuid.UUID | None
    assigned_agent_id_after: uuid.UUID | None


class WhatIfOut(Contract):
    before: ScheduleSummary
    after: ScheduleSummary
    delta_hours: float = Field(description="after.finish_hours - before.finish_hours")
    levelled_delta_hours: float
    critical_path_changed: bool
    changed_tasks: list[TaskDelta]
    saved: Literal[False] = False


class TaskStats(Contract):
    """A project's tasks in its current plan, for the project's stats."""

    plan_id: uuid.UUID | None
    tasks_by_status: dict[TaskStatus, int]
    progress_percent: float
    eta: datetime | None


# --- generation: the structured answer asked of the model (and drafted by the rules) ---------


class TaskDraft(Contract):
    key: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] = (
        Field(description="A short id unique in the draft, e.g. T1; dependencies name it.")
    )
    name: Name
    description: Description = ""
    acceptance_criteria: Items = Field(default_factory=list)
    estimate_hours: Hours
    optimistic_hours: Hours | None = None
    pessimistic_hours: Hours | None = None
    required_skills: Skills = Field(default_factory=list)
    priority: Priority = Priority.MEDIUM
    risk_level: RiskLevel = RiskLevel.LOW
    agent: str | None = Field(default=None, max_length=200, description="The agent's name.")
    deliverable: str | None = Field(
        default=None, max_length=64, description="A deliverable type of the catalogue."
    )


class PhaseDraft(Contract):
    name: Name
    description: Description = ""
    tasks: list[TaskDraft] = Field(default_factory=list, max_length=500)


class DependencyDraft(Contract):
    from_task: str = Field(max_length=50)
    to_task: str = Field(max_length=50)
    type: DependencyType = DependencyType.FS
    lag_hours: LagHours = 0.0


class MilestoneDraft(Contract):
    name: Name
    phase: str | None = Field(default=None, max_length=200)
    task_keys: list[str] = Field(default_factory=list, max_length=500)


class PlanDraft(Contract):
    phases: list[PhaseDraft] = Field(min_length=1, max_length=50)
    dependencies: list[DependencyDraft] = Field(default_factory=list, max_length=5000)
    milestones: list[MilestoneDraft] = Field(default_factory=list, max_length=200)
