"""Request and response models of accounts: users, logins and tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr

from berrys.core.contracts import Contract, Name
from berrys.core.enums import BerrysEnum


class UserRole(BerrysEnum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"
    VIEWER = "VIEWER"


class TokenKind(BerrysEnum):
    LOGIN = "LOGIN"
    PERSONAL = "PERSONAL"


def _normalise_email(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if not local or not domain or "@" in domain or any(c.isspace() for c in value):
        raise ValueError("must be an email address such as ada@example.com")
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(_normalise_email)]
Password = Annotated[SecretStr, Field(min_length=8, max_length=1024)]


class LoginRequest(Contract):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[SecretStr, Field(max_length=1024)]


class TokenOut(Contract):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime | None


class UserCreate(Contract):
    email: Email
    password: Password
    role: UserRole = UserRole.MEMBER


class UserOut(Contract):
    id: uuid.UUID
    email: str
    role: UserRole
    is_active: bool
    created_at: datetime

    @property
    def can_write(self) -> bool:
        """ADMIN and MEMBER change things; a VIEWER only reads."""
        return self.role in (UserRole.ADMIN, UserRole.MEMBER)


class PersonalTokenCreate(Contract):
    name: Name
    expires_in_days: Annotated[int | None, Field(ge=1, le=3650)] = 90


class PersonalTokenOut(Contract):
    id: uuid.UUID
    name: str
    kind: TokenKind
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class PersonalTokenCreated(PersonalTokenOut):
    token: str = Field(description="Shown once; only its hash is stored.")
