"""The catalogue's shapes: project types and deliverable types (YAML in the package, validated
here at load time), and what understanding a project produces (types, sizes, requirements).

Project types say how a competent project manager would staff and break down a kind of work;
deliverable types say what each piece of work hands over and how a machine can check it.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal, get_args

from pydantic import Field, StringConstraints, field_validator, model_validator

from berrys.core.contracts import Contract
from berrys.core.enums import BerrysEnum, Priority


class AgentType(BerrysEnum):
    COORDINATOR = "COORDINATOR"
    ASSISTANT = "ASSISTANT"
    RESEARCHER = "RESEARCHER"
    DEVELOPER = "DEVELOPER"
    DESIGNER = "DESIGNER"
    SPECIALIST = "SPECIALIST"
    AUDITOR = "AUDITOR"
    CUSTOM = "CUSTOM"


class RequirementCategory(BerrysEnum):
    FUNCTIONAL = "FUNCTIONAL"
    NON_FUNCTIONAL = "NON_FUNCTIONAL"
    DOMAIN_SPECIFIC = "DOMAIN_SPECIFIC"
    TECHNICAL = "TECHNICAL"
    INTEGRATION = "INTEGRATION"
    COLLABORATION = "COLLABORATION"


class RiskLevel(BerrysEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class Methodology(BerrysEnum):
    AGILE = "AGILE"
    WATERFALL = "WATERFALL"
    CRITICAL_PATH = "CRITICAL_PATH"


class DependencyType(BerrysEnum):
    FS = "FS"
    SS = "SS"
    FF = "FF"
    SF = "SF"


Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Lines = Annotated[list[Line], Field(max_length=200)]
Terms = Annotated[list[Line], Field(max_length=300)]

# What a description's numbers can say about a project's size. Each task's hours scale with
# the dimensions it names (an elasticity against the type's typical size).
SizeDimension = Literal[
    "people",  # attendees, users, staff, customers served
    "days",  # event days, campaign length
    "pages",  # pages of a site or a document
    "screens",  # app or UI screens
    "integrations",  # external systems to connect
    "languages",  # target languages
    "entities",  # data entities, tables, models
    "words",  # length of written content
    "products",  # catalogue items, SKUs
    "sources",  # papers, datasets, documents to review
    "locations",  # sites, branches, venues
    "endpoints",  # API operations
    "services",  # servers, services, systems to migrate or audit
    "sessions",  # sessions, lessons or classes of a course
    "episodes",  # episodes or videos of a series
]
SIZE_DIMENSIONS: tuple[str, ...] = get_args(SizeDimension)

# Project facts a deliverable section can be filled from (see the deliverables service).
Fact = Literal[
    "title",
    "description",
    "project_types",
    "people",
    "days",
    "dates",
    "budget",
    "languages",
    "sessions",
    "episodes",
    "team",
    "requirements",
    "stated_requirements",
    "schedule",
    "milestones",
    "risks",
    "constraints",
    "entities",
    "upstream",
    "place",
    "length",
    "company",
    "frequency",
]


class Particulars(Contract):
    """What a description states in words, quoted as written ("" when it does not say)."""

    place: str = Field(default="", description="Where: “Lisbon”, “the community library”.")
    length: str = Field(default="", description="How long a stay lasts: “4 nights”, “week”.")
    company: str = Field(default="", description="Who takes part: “two adults and a toddler”.")
    frequency: str = Field(default="", description="How often: “fortnightly”, “on Mondays”.")


ParticularKey = Literal["place", "length", "company", "frequency"]


# --- project types --------------------------------------------------------------------------


class Signals(Contract):
    """Words and phrases that identify a type. ``strong`` alone suggests it, ``weak`` supports
    it, ``negative`` argues against it. Matched case-insensitively on word boundaries; a
    trailing ``*`` matches any ending (``translat*``)."""

    strong: Terms = Field(min_length=3)
    weak: Terms = Field(default_factory=list)
    negative: Terms = Field(default_factory=list)


class ImpliedRequirement(Contract):
    """A need the type always brings, stated or not (source: implied)."""

    text: Line
    category: RequirementCategory
    priority: Priority = Priority.MEDIUM
    when_any: Terms = Field(
        default_factory=list, description="Only when the description mentions one of these."
    )
    unless_any: Terms = Field(
        default_factory=list, description="Left out when the description mentions one of these."
    )


class TeamRole(Contract):
    """One agent the type is staffed with."""

    key: Key
    agent_type: AgentType
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    role: Line
    goal: Line
    skills: Lines = Field(min_length=2)
    responsibilities: Lines = Field(min_length=1)
    knowledge_domains: Lines = Field(default_factory=list)
    tools: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=list,
        description="Built-in tool keys the role may use (workspace.write_file, ...).",
    )


class TaskDependency(Contract):
    task: Key
    type: DependencyType = DependencyType.FS
    lag_hours: float = Field(default=0.0, ge=-200, le=2000)


class TaskSpec(Contract):
    """One task of a breakdown: the work, who does it, what it hands over, how long it takes
    at the type's typical size and how that scales."""

    key: Key
    name: Annotated[str, StringConstraints(min_length=3, max_length=120)]
    description: Line
    deliverable: Key
    agent: Key
    hours: float = Field(gt=0, le=2000)
    scale: dict[SizeDimension, float] = Field(
        default_factory=dict,
        description="Elasticity of the hours in each dimension: hours * (size/typical)**e.",
    )
    depends_on: list[TaskDependency] = Field(default_factory=list)
    priority: Priority = Priority.MEDIUM
    risk_level: RiskLevel = RiskLevel.LOW
    risk_reason: Line | None = Field(
        default=None, description="Why the task is MEDIUM risk or above (shown at approval)."
    )
    when_any: Terms = Field(
        default_factory=list,
        description="Only included when the description mentions one of these (else always).",
    )
    when_size: dict[SizeDimension, float] = Field(
        default_factory=dict,
        description="Also included when a size reaches these values (with when_any: either).",
    )
    unless_any: Terms = Field(
        default_factory=list,
        description="Left out when the description mentions one of these (before when_any).",
    )
    core: bool = Field(
        default=False, description="Kept in a tiny project's plan (at most two such tasks)."
    )
    release: bool = Field(default=False, description="The stream goes live or is handed over.")
    awaits_release: bool = Field(
        default=False, description="In a blend, waits for the other streams' release tasks."
    )

    @field_validator("scale")
    @classmethod
    def _elasticities(cls, value: dict[str, float]) -> dict[str, float]:
        for dimension, elasticity in value.items():
            if not 0 < elasticity <= 1.5:
                raise ValueError(f"scale.{dimension} must be in (0, 1.5], got {elasticity}")
        return value


class Phase(Contract):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    description: Line
    tasks: list[TaskSpec] = Field(min_length=1)


class Risk(Contract):
    risk: Line
    mitigation: Line
    level: RiskLevel = RiskLevel.MEDIUM
    when_any: Terms = Field(
        default_factory=list, description="Only when the description mentions one of these."
    )
    unless_any: Terms = Field(
        default_factory=list, description="Left out when the description mentions one of these."
    )


class ProjectType(Contract):
    """A kind of project, as a professional would staff and plan it."""

    key: Key
    version: int = Field(ge=1)
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    summary: Line
    examples: Lines = Field(min_length=3)
    signals: Signals
    typical_size: dict[SizeDimension, float] = Field(
        default_factory=dict, description="The size the base hours are for."
    )
    works_on_existing: bool = Field(
        default=False,
        description="It changes something that exists (speed, translate, audit, fix): a type "
        "that builds the thing is not blended in because the thing is named.",
    )
    implied_requirements: list[ImpliedRequirement] = Field(min_length=2)
    team: list[TeamRole] = Field(min_length=1)
    phases: list[Phase] = Field(min_length=1)
    risks: list[Risk] = Field(min_length=2)

    @property
    def tasks(self) -> list[TaskSpec]:
        return [task for phase in self.phases for task in phase.tasks]

    @model_validator(mode="after")
    def _consistent(self) -> ProjectType:
        roles = [role.key for role in self.team]
        _unique("team key", roles)
        keys = [task.key for task in self.tasks]
        _unique("task key", keys)
        for task in self.tasks:
            if task.agent not in roles:
                raise ValueError(f"task {task.key!r}: agent {task.agent!r} is not in the team")
            for dep in task.depends_on:
                if dep.task not in keys or dep.task == task.key:
                    raise ValueError(f"task {task.key!r}: depends on unknown task {dep.task!r}")
            for dimension in task.scale:
                if dimension not in self.typical_size:
                    raise ValueError(
                        f"task {task.key!r}: scales with {dimension!r}, which typical_size lacks"
                    )
        _acyclic({task.key: [d.task for d in task.depends_on] for task in self.tasks})
        used = {task.agent for task in self.tasks}
        unused = [key for key in roles if key not in used]
        if unused:
            raise ValueError(f"team roles with no task: {', '.join(unused)}")
        if sum(task.core for task in self.tasks) > 2:
            raise ValueError("at most two tasks may be core (a tiny project's plan)")
        return self


def _unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def _acyclic(graph: dict[str, list[str]]) -> None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise ValueError(f"dependency cycle: {' -> '.join([*path, node])}")
        state[node] = 1
        for parent in graph.get(node, []):
            visit(parent, [*path, node])
        state[node] = 2

    for node in graph:
        visit(node, [])


# --- deliverable types ----------------------------------------------------------------------

DeliverableFormat = Literal["markdown", "csv", "xlsx", "ics", "code"]
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class StandardWhen(Contract):
    """Standard content a section keeps only for projects whose description mentions one of
    ``when_any`` (a clean-up by a river: water and litter hazards)."""

    when_any: Terms = Field(min_length=1)
    lines: Lines = Field(min_length=1)


class Section(Contract):
    """One section of a deliverable's outline."""

    heading: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    guidance: Line
    facts: list[Fact] = Field(
        default_factory=list, description="Project facts the offline draft fills in here."
    )
    standard: Lines = Field(
        default_factory=list,
        description="The catalogue's standard content for this section (checklist lines).",
    )
    standard_when: list[StandardWhen] = Field(
        default_factory=list, description="Standard content that depends on the description."
    )
    todos: Lines = Field(
        default_factory=list,
        description="What only a person can supply: rendered as TODO(owner) lines.",
    )
    todos_unless_known: dict[ParticularKey, Lines] = Field(
        default_factory=dict,
        description="TODOs the description can answer: where it states the particular, the "
        "draft quotes it instead.",
    )
    owner: Annotated[str, StringConstraints(min_length=1, max_length=60)] = "project owner"
    must_contain: Terms = Field(
        default_factory=list, description="Terms a draft of this section must mention."
    )


class Column(Contract):
    """A column of a tabular deliverable (csv, xlsx)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    kind: Literal["text", "number", "money", "date", "hours", "formula"] = "text"
    formula: Line | None = Field(
        default=None, description="xlsx: a row formula with {col:NAME} for cells, e.g. a total."
    )


class DeliverableType(Contract):
    """What a task hands over: its outline, format and machine-checkable acceptance."""

    key: Key
    version: int = Field(ge=1)
    title: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    format: DeliverableFormat
    summary: Line
    sections: list[Section] = Field(default_factory=list)
    columns: list[Column] = Field(default_factory=list)
    rows: list[Lines] = Field(
        default_factory=list,
        description="Standard rows of a table (csv, xlsx); cells may be empty for a person.",
    )
    companions: list[Literal["ics", "csv"]] = Field(
        default_factory=list,
        description="Extra files rendered beside it (a timeline's .ics calendar).",
    )
    acceptance: Lines = Field(min_length=1, description="Acceptance criteria, in words.")

    @model_validator(mode="after")
    def _shape(self) -> DeliverableType:
        if self.format in ("markdown", "code") and not self.sections:
            raise ValueError(f"a {self.format} deliverable needs sections")
        if self.format in ("csv", "xlsx") and not self.columns:
            raise ValueError(f"a {self.format} deliverable needs columns")
        width = len(self.columns)
        for number, row in enumerate(self.rows, start=1):
            if width and len(row) > width:
                raise ValueError(f"row {number} has {len(row)} cells for {width} columns")
        _unique("section heading", [s.heading for s in self.sections])
        _unique("column", [c.name for c in self.columns])
        return self


# --- understanding a project ----------------------------------------------------------------


class TypeMatch(Contract):
    """A project type chosen for a description, and why."""

    key: str
    name: str
    confidence: float = Field(ge=0, le=1)
    similarity: float = Field(description="Cosine similarity to the type's examples.")
    signals: list[str] = Field(description="The type's signals the description contains.")


# How an amount in these currencies is written: £500, not 500 GBP.
CURRENCY_SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€"}


class Constraint(Contract):
    """A number the description gives (people, days, budget, ...), with the words it came
    from."""

    dimension: str
    value: float
    unit: str = ""
    text: str


class Requirement(Contract):
    """A requirement of a project: stated by the person or implied by its type."""

    text: str
    category: RequirementCategory
    priority: Priority
    source: Literal["stated", "implied"]
    project_type: str | None = Field(default=None, description="The type that implied it.")


class FactMember(Contract):
    name: str
    role: str
    agent_type: str


class ScheduledTask(Contract):
    name: str
    agent: str | None = None
    deliverable: str | None = None
    start: date | None = None
    finish: date | None = None
    hours: float = 0.0
    critical: bool = False


class ProjectFacts(Contract):
    """What Berrys knows of a project, for drafting its deliverables: nothing here is
    invented; a deliverable states what it lacks as TODO(owner)."""

    title: str
    description: str
    project_types: list[str] = Field(default_factory=list, description="Type names, best first.")
    constraints: list[Constraint] = Field(default_factory=list)
    team: list[FactMember] = Field(default_factory=list)
    requirements: list[Requirement] = Field(default_factory=list)
    schedule: list[ScheduledTask] = Field(default_factory=list)
    start: date | None = None
    finish: date | None = None
    risks: list[Risk] = Field(default_factory=list)
    entities: list[str] = Field(
        default_factory=list, description="Things the project keeps records of (loans, books)."
    )
    upstream: dict[str, str] = Field(
        default_factory=dict, description="Deliverables this one builds on: task name -> text."
    )
    particulars: Particulars = Field(default_factory=Particulars)

    def constraint(self, dimension: str) -> Constraint | None:
        return next((c for c in self.constraints if c.dimension == dimension), None)


class ProfileOut(Contract):
    """What Berrys understood of a project (GET /projects/{id}/profile)."""

    project_id: uuid.UUID
    title: str
    types: list[TypeMatch]
    constraints: list[Constraint]
    requirements: list[Requirement]
    source: str
    notes: list[str]
    updated_at: datetime


class ProjectTypeSummary(Contract):
    """A catalogue entry at a glance (GET /catalogue/types)."""

    key: str
    version: int
    name: str
    summary: str
    team: list[str]
    tasks: int
    deliverables: list[str]
