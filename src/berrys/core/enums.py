"""Every enum of Berrys, defined once.

Values are UPPERCASE. Input is case-insensitive: ``"draft"`` is accepted as ``DRAFT`` and the
request is answered with a deprecation warning (see :func:`take_deprecations`); an unknown
value fails validation, and the 422 lists the allowed values.
"""

from __future__ import annotations

from contextvars import ContextVar
from enum import StrEnum
from typing import Any

import structlog

_log = structlog.get_logger("berrys.enums")

# The request middleware puts a fresh list here; enum coercion appends to it.
_deprecations: ContextVar[list[str] | None] = ContextVar("berrys_enum_deprecations", default=None)


def start_collecting_deprecations() -> list[str]:
    notes: list[str] = []
    _deprecations.set(notes)
    return notes


class BerrysEnum(StrEnum):
    """A str enum whose lookup ignores case and reports non-canonical spellings."""

    @classmethod
    def _missing_(cls, value: Any) -> BerrysEnum | None:
        if not isinstance(value, str):
            return None
        member = cls.__members__.get(value.strip().upper())
        if member is None:
            return None
        note = (
            f"Lowercase enum value {value!r} provided for {cls.__name__}. "
            f"Use the uppercase value {member.value!r}; lowercase support will be removed."
        )
        _log.warning("enum.lowercase_value", enum=cls.__name__, value=value, use=member.value)
        notes = _deprecations.get()
        if notes is not None:
            notes.append(note)
        return member

    @classmethod
    def allowed(cls) -> list[str]:
        return [member.value for member in cls]


class UserRole(BerrysEnum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"
    VIEWER = "VIEWER"


class TokenKind(BerrysEnum):
    LOGIN = "LOGIN"
    PERSONAL = "PERSONAL"


class ProjectStatus(BerrysEnum):
    DRAFT = "DRAFT"
    PLANNING = "PLANNING"
    IN_PROGRESS = "IN_PROGRESS"
    PAUSED = "PAUSED"
    REVIEW = "REVIEW"
    COMPLETED = "COMPLETED"
    ARCHIVED = "ARCHIVED"
    CANCELLED = "CANCELLED"


class AuditAction(BerrysEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    TRANSITION = "TRANSITION"
    LOGIN = "LOGIN"
    LOGOUT = "LOGOUT"
    INVOKE = "INVOKE"
    GENERATE = "GENERATE"
    RESPOND = "RESPOND"


class AgentType(BerrysEnum):
    COORDINATOR = "COORDINATOR"
    ASSISTANT = "ASSISTANT"
    RESEARCHER = "RESEARCHER"
    DEVELOPER = "DEVELOPER"
    DESIGNER = "DESIGNER"
    SPECIALIST = "SPECIALIST"
    AUDITOR = "AUDITOR"
    CUSTOM = "CUSTOM"


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


class RequirementCategory(BerrysEnum):
    FUNCTIONAL = "FUNCTIONAL"
    NON_FUNCTIONAL = "NON_FUNCTIONAL"
    DOMAIN_SPECIFIC = "DOMAIN_SPECIFIC"
    TECHNICAL = "TECHNICAL"
    INTEGRATION = "INTEGRATION"
    COLLABORATION = "COLLABORATION"


class Priority(BerrysEnum):
    """Priority of requirements and tasks."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class RiskLevel(BerrysEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class Methodology(BerrysEnum):
    AGILE = "AGILE"
    WATERFALL = "WATERFALL"
    CRITICAL_PATH = "CRITICAL_PATH"


class TaskStatus(BerrysEnum):
    PENDING = "PENDING"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    BLOCKED = "BLOCKED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class DependencyType(BerrysEnum):
    FS = "FS"
    SS = "SS"
    FF = "FF"
    SF = "SF"


class OptimizationTarget(BerrysEnum):
    TIME = "TIME"
    COST = "COST"
    BALANCED = "BALANCED"


class BottleneckKind(BerrysEnum):
    OVER_ALLOCATION = "OVER_ALLOCATION"
    SKILL_GAP = "SKILL_GAP"
    DEPENDENCY_HUB = "DEPENDENCY_HUB"
    LONG_CHAIN = "LONG_CHAIN"


class ModelProvider(BerrysEnum):
    SCRIPTED = "SCRIPTED"
    RULES = "RULES"
    LOCAL = "LOCAL"
    OPENAI = "OPENAI"
    ANTHROPIC = "ANTHROPIC"
    OLLAMA = "OLLAMA"


class ModelTaskType(BerrysEnum):
    """What a model call is for: the router's defaults and quality tiers are per task type."""

    GENERAL = "GENERAL"
    REQUIREMENTS = "REQUIREMENTS"
    TEAM = "TEAM"
    PLAN = "PLAN"
    INTENT = "INTENT"
    TASK = "TASK"
    REVIEW = "REVIEW"


class ModelCapability(BerrysEnum):
    CHAT = "CHAT"
    EMBEDDING = "EMBEDDING"
    TOOLS = "TOOLS"
    STRUCTURED_OUTPUT = "STRUCTURED_OUTPUT"


class ModelRequestOutcome(BerrysEnum):
    """How one attempt of a model call ended (a ``model_request`` row)."""

    SUCCESS = "SUCCESS"
    TIMEOUT = "TIMEOUT"
    RATE_LIMITED = "RATE_LIMITED"
    SERVER_ERROR = "SERVER_ERROR"
    CONNECTION_ERROR = "CONNECTION_ERROR"
    CONTEXT_OVERFLOW = "CONTEXT_OVERFLOW"
    INVALID_OUTPUT = "INVALID_OUTPUT"
    UNSUPPORTED = "UNSUPPORTED"
    ERROR = "ERROR"


class BudgetScope(BerrysEnum):
    """What a model budget limits: a project's or an agent's spend, or a provider's quota."""

    PROJECT = "PROJECT"
    AGENT = "AGENT"
    PROVIDER = "PROVIDER"


class BudgetPeriod(BerrysEnum):
    TOTAL = "TOTAL"
    DAILY = "DAILY"


class ToolStatus(BerrysEnum):
    DISCOVERED = "DISCOVERED"
    EVALUATED = "EVALUATED"
    APPROVED = "APPROVED"
    DEPRECATED = "DEPRECATED"
    REJECTED = "REJECTED"


class ToolSource(BerrysEnum):
    BUILTIN = "BUILTIN"
    MCP = "MCP"
    HTTP = "HTTP"


class ApprovalPolicy(BerrysEnum):
    AUTO = "AUTO"
    REQUIRES_APPROVAL = "REQUIRES_APPROVAL"
    DENY = "DENY"


class McpTransport(BerrysEnum):
    STDIO = "STDIO"
    STREAMABLE_HTTP = "STREAMABLE_HTTP"


class ToolExecutionOutcome(BerrysEnum):
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    TIMEOUT = "TIMEOUT"
    INVALID = "INVALID"
    DENIED = "DENIED"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"


class ToolVerdict(BerrysEnum):
    RECOMMENDED = "RECOMMENDED"
    ACCEPTABLE = "ACCEPTABLE"
    NOT_RECOMMENDED = "NOT_RECOMMENDED"


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
    # before it counts as final: accept, edit or send back (runs/review.py).
    NEEDS_REVIEW = "NEEDS_REVIEW"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"


class ReviewDecision(BerrysEnum):
    """What a person decides about a NEEDS_REVIEW task's deliverable."""

    ACCEPT = "ACCEPT"
    EDIT = "EDIT"
    SEND_BACK = "SEND_BACK"


class HumanInteractionType(BerrysEnum):
    APPROVAL = "APPROVAL"
    CLARIFICATION = "CLARIFICATION"
    FEEDBACK = "FEEDBACK"
    NOTIFICATION = "NOTIFICATION"


class InteractionStatus(BerrysEnum):
    PENDING = "PENDING"
    RESPONDED = "RESPONDED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


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


class RejectionPolicy(BerrysEnum):
    """What a rejected approval does to the task that waited for it."""

    FAIL = "FAIL"
    SKIP = "SKIP"


class EscalationRule(BerrysEnum):
    """What happens when a PENDING interaction expires."""

    REJECT = "REJECT"
    APPROVE = "APPROVE"
    ESCALATE = "ESCALATE"


class ApprovalSubject(BerrysEnum):
    """What an APPROVAL is about."""

    PLAN = "PLAN"
    TOOL_CALL = "TOOL_CALL"
    TOOL_RERUN = "TOOL_RERUN"
    TASK_RISK = "TASK_RISK"
    BUDGET = "BUDGET"


class StepResolution(BerrysEnum):
    """A person's decision about a tool call in flight when its worker stopped."""

    RERUN = "RERUN"
    REJECT = "REJECT"


class NotificationLevel(BerrysEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class ChatIntent(BerrysEnum):
    """What a chat message asks Berry to do."""

    CREATE_PROJECT = "CREATE_PROJECT"
    GENERATE_TEAM = "GENERATE_TEAM"
    PLAN = "PLAN"
    START_RUN = "START_RUN"
    STATUS = "STATUS"
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    HELP = "HELP"
    SMALL_TALK = "SMALL_TALK"
    CONFIRM = "CONFIRM"
    CANCEL = "CANCEL"


class ChatRole(BerrysEnum):
    USER = "USER"
    ASSISTANT = "ASSISTANT"


class ChatActionStatus(BerrysEnum):
    """The outcome of one action Berry took (or proposed) for a message."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    NEEDS_CONFIRMATION = "NEEDS_CONFIRMATION"
    CANCELLED = "CANCELLED"


class SearchKind(BerrysEnum):
    """What similarity search looks through."""

    PROJECT = "PROJECT"
    TASK = "TASK"
    AGENT_TEMPLATE = "AGENT_TEMPLATE"
    TOOL = "TOOL"
