"""Response models of the audit log: an entry, and the chain's verification."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from berrys.core.contracts import Contract
from berrys.core.enums import BerrysEnum


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


class AuditEntryOut(Contract):
    id: uuid.UUID
    seq: int
    entity_type: str
    entity_id: uuid.UUID | None
    action: AuditAction
    project_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime
    prev_hash: str
    entry_hash: str


class AuditVerification(Contract):
    valid: bool
    entries: int
    first_bad: int | None = None
    reason: str | None = None
