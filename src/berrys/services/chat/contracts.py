"""Berry's public types: sessions, messages, the actions a message led to, prompts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from berrys.core.contracts import Contract
from berrys.core.enums import BerrysEnum


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


MAX_MESSAGE = 4000
MessageText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE)
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
PromptText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)
]
PromptName = Literal["persona", "intent", "greeting", "help"]
# What a question (intent STATUS) asks about; answered from the project's data.
Question = Literal[
    "overview",
    "critical_path",
    "artifacts",
    "waiting",
    "cost",
    "risk",
    "team",
    "plan",
    "requirements",
]


class ChatSessionCreate(Contract):
    title: Title = ""
    project_id: uuid.UUID | None = Field(
        default=None, description="The project the conversation starts about."
    )


class ChatAction(Contract):
    """One thing Berry did (or proposes to do) for a message."""

    type: ChatIntent
    status: ChatActionStatus
    result: dict[str, Any] = Field(
        default_factory=dict, description="What it produced, e.g. project_id for CREATE_PROJECT."
    )
    detail: str = Field(default="", description="Why it failed or needs a yes.")


class ChatMessageCreate(Contract):
    content: MessageText


class ChatMessageOut(Contract):
    id: uuid.UUID
    role: ChatRole
    content: str
    intent: ChatIntent | None
    actions: list[ChatAction]
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("message_metadata", "metadata"))
    created_at: datetime


class PendingAction(Contract):
    """An action that waits for the user's yes (costly or destructive)."""

    type: ChatIntent
    project_id: uuid.UUID | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    question: str


class ChatSessionOut(Contract):
    id: uuid.UUID
    title: str
    project_id: uuid.UUID | None
    pending_action: PendingAction | None = None
    created_at: datetime
    updated_at: datetime


class ChatSessionDetail(ChatSessionOut):
    messages: list[ChatMessageOut]


class ChatReply(Contract):
    """The answer to one message (the same content the stream delivers piece by piece)."""

    session_id: uuid.UUID
    intent: ChatIntent
    reply: str
    actions: list[ChatAction]
    message: ChatMessageOut = Field(description="Berry's stored reply.")
    user_message_id: uuid.UUID


class IntentResult(BaseModel):
    """Structured output of intent recognition (the model's answer, or the rules')."""

    model_config = ConfigDict(extra="ignore")

    intent: ChatIntent
    project_name: str | None = Field(
        default=None,
        description="CREATE_PROJECT: the new project's name. Otherwise: the project the "
        "user names, if any.",
    )
    description: str | None = Field(
        default=None, description="CREATE_PROJECT: what the project is for, in the user's words."
    )
    comment: str | None = Field(default=None, description="APPROVE / REJECT: the comment.")
    question: Question | None = Field(
        default=None,
        description="STATUS: what the user asks about (overview when just how it is going).",
    )
    subject: str | None = Field(
        default=None,
        description='STATUS: the agent or task the question names ("the Designer"), if any.',
    )

    @field_validator("question", mode="before")
    @classmethod
    def _known_question(cls, value: Any) -> Any:
        """A model's "Critical path" is critical_path; a question Berry has no answer for is
        None (asked as an overview) rather than a failed answer."""
        if not isinstance(value, str):
            return value
        key = value.strip().lower().replace("-", "_").replace(" ", "_")
        return key if key in get_args(Question) else None


class IntentSource(Contract):
    provider: str
    model: str
    fallback: bool
    reason: str | None = None


class ChatEvent(Contract):
    """One event of a streamed reply: intent, action, delta (reply text), done, error."""

    event: Literal["intent", "action", "delta", "done", "error"]
    data: dict[str, Any]


class PromptOut(Contract):
    name: PromptName
    content: str
    is_default: bool
    updated_at: datetime | None = None
    updated_by: uuid.UUID | None = None


class PromptUpdate(Contract):
    content: PromptText
