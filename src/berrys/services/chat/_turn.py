"""What a turn of a conversation carries from its first transaction to its actions and reply."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from berrys.services.auth.contracts import UserOut
from berrys.services.chat.contracts import PendingAction, PromptName


@dataclass
class Turn:
    """Everything a turn needs, read in its first short transaction."""

    session_id: uuid.UUID
    user: UserOut
    content: str
    user_message_id: uuid.UUID
    history: list[tuple[str, str]]
    prompts: dict[PromptName, str]
    pending: PendingAction | None
    project_id: uuid.UUID | None
    projects: dict[str, uuid.UUID] = field(default_factory=dict)
