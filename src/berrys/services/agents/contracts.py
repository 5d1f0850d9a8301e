"""Request and response models of agents, and the agents' lifecycle table."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, computed_field, model_validator

from berrys.core.contracts import MAX_INT, Contract, Description, Name
from berrys.core.enums import BerrysEnum, Priority
from berrys.core.lifecycle import Lifecycle
from berrys.services.catalogue.contracts import AgentType, RequirementCategory, TypeMatch
from berrys.services.llm.contracts import ModelProvider


class AgentState(BerrysEnum):
    CREATED = "CREATED"
    INITIALIZING = "INITIALIZING"
    READY = "READY"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    ERROR = "ERROR"
    TERMINATED = "TERMINATED"


class MessageStatus(BerrysEnum):
    CREATED = "CREATED"
    DELIVERED = "DELIVERED"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"


class CollaborationType(BerrysEnum):
    """How one agent of a team works with another (an edge of the collaboration graph)."""

    DELEGATES = "DELEGATES"
    HANDS_OFF = "HANDS_OFF"
    REVIEWS = "REVIEWS"
    REPORTS_TO = "REPORTS_TO"
    CONSULTS = "CONSULTS"


Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=20_000)]
Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Items = Annotated[list[Item], Field(max_length=100)]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50)
]
PromptTemplate = Annotated[str, StringConstraints(max_length=20_000)]

MAX_GENERATION_DESCRIPTION = 10_000
# An agent's own instructions; the router's specialisation hook puts its role, skills,
# responsibilities and domains in front of them.
DEFAULT_AGENT_PROMPT = (
    'You are {{ agent.name }}, working on the project "{{ project.name }}".\n'
    "Your goal: {{ agent.goal }}\n"
    "Hand your results on as the collaboration plan says, and say plainly when you are unsure."
)
GenerationDescription = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_GENERATION_DESCRIPTION),
]

# CREATED -> INITIALIZING -> READY -> ACTIVE <-> PAUSED; any -> ERROR; ERROR -> READY;
# any -> TERMINATED. TERMINATED is final.
_A = AgentState
AGENT_TRANSITIONS = Lifecycle[AgentState](
    "Agent",
    {
        _A.CREATED: {_A.INITIALIZING, _A.ERROR, _A.TERMINATED},
        _A.INITIALIZING: {_A.READY, _A.ERROR, _A.TERMINATED},
        _A.READY: {_A.ACTIVE, _A.ERROR, _A.TERMINATED},
        _A.ACTIVE: {_A.PAUSED, _A.ERROR, _A.TERMINATED},
        _A.PAUSED: {_A.ACTIVE, _A.ERROR, _A.TERMINATED},
        _A.ERROR: {_A.READY, _A.TERMINATED},
        _A.TERMINATED: set(),
    },
)


# --- agents ------------------------------------------------------------------------------


class AgentConfiguration(Contract):
    model_preference: ShortText | None = Field(
        default=None, description="A model name, or a preference: quality, balanced or cost."
    )
    temperature: float | None = Field(default=None, ge=0, le=2)
    budget_usd: float | None = Field(default=None, ge=0, description="Per-agent spending cap.")


class Specialisation(Contract):
    skills: Items = Field(default_factory=list)
    responsibilities: Items = Field(default_factory=list)
    knowledge_domains: Items = Field(default_factory=list)
    collaboration_patterns: Items = Field(default_factory=list)


class AgentCreate(Contract):
    """A new agent; from a template (``template_id``, optional ``overrides``) or by hand."""

    name: Name
    agent_type: AgentType | None = Field(default=None, description="Required without a template.")
    role: ShortText | None = None
    goal: Text | None = None
    description: Description | None = None
    prompt_template: PromptTemplate | None = None
    configuration: AgentConfiguration | None = None
    specialisation: Specialisation | None = None
    template_id: uuid.UUID | None = None
    template_version: int | None = Field(
        default=None, ge=1, le=MAX_INT, description="Default: current."
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description='Dotted keys over the template, e.g. {"configuration.temperature": 0.2}.',
    )


class AgentUpdate(Contract):
    name: Name | None = None
    role: ShortText | None = None
    goal: Text | None = None
    description: Description | None = None
    prompt_template: PromptTemplate | None = None
    configuration: AgentConfiguration | None = None
    specialisation: Specialisation | None = None


class AgentOut(Contract):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    agent_type: AgentType
    role: str
    goal: str
    description: str
    prompt_template: str
    configuration: AgentConfiguration
    specialisation: Specialisation
    state: AgentState
    template_id: uuid.UUID | None
    template_version: int | None
    generated: bool
    requirements: list[str]
    created_at: datetime
    updated_at: datetime

    # mypy rejects a decorator over @property; pydantic documents this ignore for it.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def allowed_transitions(self) -> list[AgentState]:
        return sorted(AGENT_TRANSITIONS[self.state])


class AgentTransitionRequest(Contract):
    to_state: AgentState
    reason: Reason | None = None


class AgentStateOut(Contract):
    id: uuid.UUID
    from_state: AgentState | None
    to_state: AgentState
    reason: str | None
    transitioned_by: uuid.UUID | None
    transitioned_at: datetime


class CollaborationOut(Contract):
    from_agent_id: uuid.UUID
    to_agent_id: uuid.UUID
    interaction: CollaborationType
    description: str


# --- specialisations ------------------------------------------------------------------------


class SpecialisationOut(Specialisation):
    agent_type: AgentType
    summary: str
    updated_at: datetime


class SpecialisationUpdate(Contract):
    summary: Text | None = None
    skills: Items | None = None
    responsibilities: Items | None = None
    knowledge_domains: Items | None = None
    collaboration_patterns: Items | None = None


# --- templates ------------------------------------------------------------------------------


class TemplateDefinition(Contract):
    """The versioned content of a template: everything an agent made from it starts with."""

    role: ShortText = ""
    goal: Text = ""
    description: Description = ""
    prompt_template: PromptTemplate = ""
    configuration: AgentConfiguration = Field(default_factory=AgentConfiguration)
    specialisation: Specialisation = Field(default_factory=Specialisation)


class TemplateCreate(Contract):
    name: Name
    description: Description = ""
    agent_type: AgentType
    tags: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)
    definition: TemplateDefinition = Field(default_factory=TemplateDefinition)
    change_note: Reason = "created"


class TemplateUpdate(Contract):
    """Name, description and tags: not versioned. Content changes make a new version."""

    name: Name | None = None
    description: Description | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None


class TemplateVersionCreate(Contract):
    """A new version: a whole ``definition``, or ``overrides`` on the current one."""

    definition: TemplateDefinition | None = None
    overrides: dict[str, Any] | None = None
    change_note: Reason = ""

    @model_validator(mode="after")
    def _one_source(self) -> TemplateVersionCreate:
        if (self.definition is None) == (self.overrides is None):
            raise ValueError("give exactly one of definition or overrides")
        return self


class TemplateRevert(Contract):
    version: int = Field(ge=1, le=MAX_INT)
    change_note: Reason | None = None


class TemplateVersionOut(Contract):
    version: int
    definition: TemplateDefinition
    change_note: str
    created_by: uuid.UUID | None
    created_at: datetime


class TemplateOut(Contract):
    id: uuid.UUID
    name: str
    description: str
    agent_type: AgentType
    tags: list[str]
    current_version: int
    is_system: bool
    owner_id: uuid.UUID | None
    definition: TemplateDefinition
    created_at: datetime
    updated_at: datetime


class FieldChange(Contract):
    path: str
    before: Any = None
    after: Any = None


class TemplateComparison(Contract):
    template_id: uuid.UUID
    from_version: int
    to_version: int
    changes: list[FieldChange]


TEMPLATE_EXPORT_FORMAT: Literal["berrys.agent_template/v1"] = "berrys.agent_template/v1"


class ExportedVersion(Contract):
    version: int = Field(ge=1, le=MAX_INT)
    definition: TemplateDefinition
    change_note: Reason = ""


class TemplateDocument(Contract):
    """A template as a JSON file: what export writes and import reads."""

    format: Literal["berrys.agent_template/v1"] = TEMPLATE_EXPORT_FORMAT
    name: Name
    description: Description = ""
    agent_type: AgentType
    tags: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)
    current_version: int = Field(ge=1, le=MAX_INT)
    versions: Annotated[list[ExportedVersion], Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _consistent(self) -> TemplateDocument:
        numbers = [v.version for v in self.versions]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError("versions must be numbered 1, 2, 3, ... in order")
        if self.current_version > len(numbers):
            raise ValueError("current_version names a version that is not in the document")
        return self


# --- messages -------------------------------------------------------------------------------


class MessageCreate(Contract):
    content: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    subject: ShortText = ""
    from_agent_id: uuid.UUID | None = Field(
        default=None, description="The sending agent (same project); none for a person."
    )
    payload: dict[str, Any] = Field(default_factory=dict)


class MessageStatusUpdate(Contract):
    status: MessageStatus
    error: Reason | None = None


class MessageOut(Contract):
    id: uuid.UUID
    project_id: uuid.UUID
    from_agent_id: uuid.UUID | None
    to_agent_id: uuid.UUID
    sender_id: uuid.UUID | None
    subject: str
    content: str
    payload: dict[str, Any]
    status: MessageStatus
    error: str | None
    created_at: datetime
    delivered_at: datetime | None
    processed_at: datetime | None


# --- team generation --------------------------------------------------------------------------
# The two structured answers asked of the model router (and produced by the rules).


class RequirementDraft(Contract):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    category: RequirementCategory
    priority: Priority
    confidence: float = Field(ge=0, le=1)
    agent_types: list[AgentType] = Field(
        default_factory=list, description="The agent types this requirement calls for."
    )
    source: Literal["stated", "implied"] = Field(
        default="stated",
        description="stated: the description asks for it; implied: the project's type brings it.",
    )


class RequirementsDraft(Contract):
    requirements: Annotated[list[RequirementDraft], Field(max_length=100)]


class AgentDraft(Contract):
    name: Name
    agent_type: AgentType
    role: ShortText
    goal: Text = ""
    skills: Items = Field(default_factory=list)
    responsibilities: Items = Field(default_factory=list)
    knowledge_domains: Items = Field(default_factory=list)
    model_preference: ShortText = "balanced"
    prompt_template: PromptTemplate = ""
    tools: Annotated[list[ShortText], Field(max_length=30)] = Field(
        default_factory=list, description="Tools the agent may use (built-in tool names)."
    )
    requirement_ids: list[int] = Field(
        default_factory=list, description="1-based positions in the requirements list."
    )


class CollaborationDraft(Contract):
    from_agent: Name
    to_agent: Name
    interaction: CollaborationType
    description: ShortText = ""


class TeamDraft(Contract):
    agents: Annotated[list[AgentDraft], Field(min_length=1, max_length=20)]
    collaboration: list[CollaborationDraft] = Field(default_factory=list)


class GenerateRequest(Contract):
    dry_run: bool = False
    description: GenerationDescription | None = Field(
        default=None, description="Default: the project's description."
    )


class StepSource(Contract):
    """Who answered one step of the generation, and whether it was a fallback."""

    provider: ModelProvider
    model: str
    from_rules: bool = Field(description="The RULES provider answered.")
    fallback: bool = Field(
        description="An earlier model failed (e.g. its answer did not validate) first."
    )
    reason: str = ""


class RequirementOut(RequirementDraft):
    id: int


class ProposedAgent(AgentDraft):
    id: uuid.UUID | None = Field(default=None, description="Set once persisted.")
    kept: bool = Field(default=False, description="An existing agent that had started.")


class GenerationOut(Contract):
    project_id: uuid.UUID
    dry_run: bool
    requirements: list[RequirementOut]
    team: list[ProposedAgent]
    collaboration: list[CollaborationDraft]
    sources: dict[str, StepSource]
    notes: list[str] = Field(
        default_factory=list, description="What was adjusted in the answers, and why."
    )
    kept: int = 0
    replaced: int = 0
    title: str | None = Field(default=None, description="A short title made from the description.")
    project_types: list[TypeMatch] = Field(
        default_factory=list,
        description="The catalogue's project types chosen for the description, and why.",
    )
