"""Tables of the audit log: the entries, and the chain's head (the lock every entry takes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, UUIDPrimaryKey, enum_column, utcnow
from berrys.services.audit.contracts import AuditAction


class AuditEntry(UUIDPrimaryKey, Base):
    """One append-only entry; ``entry_hash`` chains it to its predecessor."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_entity", "entity_type", "entity_id"),)

    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[uuid.UUID | None]
    action: Mapped[AuditAction] = mapped_column(enum_column(AuditAction))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    # The project an entry belongs to, so a project's owner can read its whole trail.
    project_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's tip in one row: locking it serialises appends on every backend."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))
