"""Tables of accounts: users, API tokens (stored hashed), and failed logins for throttling."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column, utcnow
from berrys.services.auth.contracts import TokenKind, UserRole


class UserAccount(UUIDPrimaryKey, Timestamps, Base):
    # "user" is reserved in PostgreSQL; an unambiguous name avoids quoting everywhere.
    __tablename__ = "user_account"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(enum_column(UserRole))
    is_active: Mapped[bool] = mapped_column(default=True)


class ApiToken(UUIDPrimaryKey, Base):
    """A bearer token, stored only as its SHA-256 hash."""

    __tablename__ = "api_token"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[TokenKind] = mapped_column(enum_column(TokenKind))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginFailure(UUIDPrimaryKey, Base):
    """Failed logins, counted per address (and email) to throttle guessing (kept across
    restarts); rows older than the window are pruned."""

    __tablename__ = "login_failure"

    email: Mapped[str] = mapped_column(String(254), index=True)
    client: Mapped[str | None] = mapped_column(String(64), index=True)
    failed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
