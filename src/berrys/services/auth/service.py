"""Users, login and bearer tokens."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.config import Settings
from berrys.core.db import Database, fetch_page, utcnow
from berrys.core.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized
from berrys.core.security import hash_password, hash_token, new_password, new_token, verify_password
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import (
    PersonalTokenCreate,
    PersonalTokenCreated,
    PersonalTokenOut,
    TokenKind,
    TokenOut,
    UserCreate,
    UserOut,
    UserRole,
)
from berrys.services.auth.tables import ApiToken, LoginFailure, UserAccount

__all__ = [
    "acting_for",
    "bearer_user",
    "count",
    "create_personal_token",
    "create_user",
    "emails",
    "ensure_first_admin",
    "get_by_email",
    "get_personal_tokens",
    "login",
    "logout",
    "require_admin",
    "require_writer",
    "revoke_personal_token",
    "set_password",
    "user_for_token",
    "valid_token_user",
]

INVALID_LOGIN = "Invalid email or password"


async def create_user(
    session: AsyncSession, *, user_in: UserCreate, actor_id: uuid.UUID | None
) -> UserOut:
    """Create a user; an email already taken is a conflict."""
    if await session.scalar(select(UserAccount.id).where(UserAccount.email == user_in.email)):
        raise Conflict(f"A user with email {user_in.email} already exists")
    password_hash = await asyncio.to_thread(hash_password, user_in.password.get_secret_value())
    user = UserAccount(email=user_in.email, password_hash=password_hash, role=user_in.role)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create won the race
        raise Conflict(f"A user with email {user_in.email} already exists") from exc
    created = UserOut.model_validate(user)
    await audit.record(
        session,
        entity_type="user",
        entity_id=user.id,
        action=AuditAction.CREATE,
        actor_id=actor_id or user.id,
        after=created,
    )
    return created


async def get_by_email(session: AsyncSession, *, email: str) -> UserOut:
    user = await session.scalar(
        select(UserAccount).where(UserAccount.email == email.strip().lower())
    )
    if user is None:
        raise NotFound(f"No user with email {email}")
    return UserOut.model_validate(user)


async def acting_for(session: AsyncSession, *, user_id: uuid.UUID) -> UserOut | None:
    """The user someone acts for (the engine, for a run's creator) as they are now: None
    once deleted or deactivated, so no access is kept from when the work started."""
    user = await session.scalar(select(UserAccount).where(UserAccount.id == user_id))
    if user is None or not user.is_active:
        return None
    return UserOut.model_validate(user)


async def emails(session: AsyncSession, *, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The email of each of these users that exists, in one query (a page's actors)."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(UserAccount.id, UserAccount.email).where(UserAccount.id.in_(list(user_ids)))
    )
    return {row.id: row.email for row in rows}


async def count(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(UserAccount))).scalar_one()


async def ensure_first_admin(
    database: Database, settings: Settings
) -> tuple[str, str | None] | None:
    """With no users yet, create the first admin: from settings, or with a random password.

    Returns (email, generated password or None) when an admin was created; None too when
    another process (a replica starting at the same time) created it first.
    """
    email = settings.admin_email or "admin@berrys.local"
    generated = None if settings.admin_password else new_password()
    password = settings.admin_password.get_secret_value() if settings.admin_password else generated
    user_in = UserCreate.model_validate(
        {"email": email, "password": password, "role": UserRole.ADMIN}
    )
    try:
        async with database.transaction() as session:
            if await count(session):
                return None
            await create_user(session, user_in=user_in, actor_id=None)
    except Conflict:
        return None
    return user_in.email, generated


async def _issue_token(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    name: str,
    kind: TokenKind,
    lifetime: timedelta | None,
) -> tuple[str, ApiToken]:
    token = new_token()
    row = ApiToken(
        user_id=user_id,
        name=name,
        kind=kind,
        token_hash=hash_token(token),
        expires_at=utcnow() + lifetime if lifetime else None,
    )
    session.add(row)
    await session.flush()
    return token, row


async def _throttle(
    session: AsyncSession, settings: Settings, *, email: str, client: str | None
) -> None:
    """429 when this address failed too often: on this account, or on any.

    Failures count per address, so a stranger guessing from elsewhere never locks the owner
    out; an address spraying guesses over many accounts is slowed all the same.
    """
    window = timedelta(seconds=settings.login_failure_window_seconds)
    from_client = LoginFailure.client.is_(None) if client is None else LoginFailure.client == client
    recent = from_client & (LoginFailure.failed_at >= utcnow() - window)
    for condition, limit, what in (
        (LoginFailure.email == email, settings.login_max_failures, "for this account"),
        (true(), settings.login_max_failures_per_client, "for any account"),
    ):
        failures, oldest = (
            await session.execute(
                select(func.count(), func.min(LoginFailure.failed_at)).where(recent, condition)
            )
        ).one()
        if failures >= limit:
            wait = max(1, math.ceil((oldest + window - utcnow()).total_seconds()))
            raise TooManyRequests(
                f"Too many failed logins {what} from your address; try again in {wait} seconds",
                retry_after_seconds=wait,
            )


async def login(
    database: Database, settings: Settings, *, email: str, password: str, client: str | None
) -> TokenOut:
    """Exchange credentials for a bearer token; the same 401 for a wrong email or password."""
    email = email.strip().lower()
    client = client[:64] if client else None
    async with database.transaction(read_only=True) as session:
        await _throttle(session, settings, email=email, client=client)
        user = (
            await session.execute(
                select(UserAccount.id, UserAccount.password_hash, UserAccount.is_active).where(
                    UserAccount.email == email
                )
            )
        ).first()
    # argon2 takes tens of milliseconds on purpose: in a thread, outside any transaction.
    valid = await asyncio.to_thread(verify_password, password, user.password_hash if user else None)
    if not (valid and user and user.is_active):
        window = timedelta(seconds=settings.login_failure_window_seconds)
        async with database.transaction() as session:
            await session.execute(
                delete(LoginFailure).where(LoginFailure.failed_at < utcnow() - window)
            )
            session.add(LoginFailure(email=email, client=client))
        raise Unauthorized(INVALID_LOGIN)
    async with database.transaction() as session:
        from_client = (
            LoginFailure.client.is_(None) if client is None else LoginFailure.client == client
        )
        await session.execute(delete(LoginFailure).where(LoginFailure.email == email, from_client))
        token, row = await _issue_token(
            session,
            user_id=user.id,
            name="login",
            kind=TokenKind.LOGIN,
            lifetime=timedelta(hours=settings.token_ttl_hours),
        )
        await audit.record(
            session,
            entity_type="user",
            entity_id=user.id,
            action=AuditAction.LOGIN,
            actor_id=user.id,
        )
    return TokenOut(access_token=token, expires_at=row.expires_at)


# Built once: every authenticated request runs it, and building the expression costs more
# than SQLite takes to answer it. Plain columns on the session's connection: no ORM
# execution, identity map or instances for a row that only becomes a UserOut.
_USER_FOR_TOKEN = (
    select(*(UserAccount.__table__.c[name] for name in UserOut.model_fields))
    .join(ApiToken, ApiToken.user_id == UserAccount.id)
    .where(
        ApiToken.token_hash == bindparam("token_hash"),
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > bindparam("now")),
        UserAccount.is_active.is_(True),
    )
)


async def user_for_token(session: AsyncSession, token: str) -> UserOut | None:
    """The active user a valid (unexpired, unrevoked) token belongs to."""
    connection = await session.connection()
    result = await connection.execute(
        _USER_FOR_TOKEN, {"token_hash": hash_token(token), "now": utcnow()}
    )
    row = result.mappings().first()
    return UserOut.model_validate(row) if row else None


async def valid_token_user(database: Database, token: str) -> UserOut:
    """The active user of a valid token, else Unauthorized with REST's message (the edges
    outside FastAPI's dependencies: MCP, A2A)."""
    async with database.transaction(read_only=True) as session:
        user = await user_for_token(session, token)
    if user is None:
        raise Unauthorized("Invalid, expired or revoked token")
    return user


async def bearer_user(database: Database, authorization: str) -> UserOut:
    """The user of an ``Authorization: Bearer <token>`` header's value, else Unauthorized."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing bearer token: send Authorization: Bearer <API token>")
    return await valid_token_user(database, token.strip())


def require_writer(user: UserOut) -> None:
    """Forbidden for a VIEWER: writing needs MEMBER or ADMIN (every edge checks it so)."""
    if not user.can_write:
        raise Forbidden(f"Role {user.role} can only read; writing needs MEMBER or ADMIN")


def require_admin(user: UserOut) -> None:
    """Forbidden for anyone but an ADMIN (every edge checks it so)."""
    if user.role != UserRole.ADMIN:
        raise Forbidden("Only an ADMIN may do this")


async def logout(session: AsyncSession, *, token: str, user: UserOut) -> None:
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        await audit.record(
            session,
            entity_type="user",
            entity_id=user.id,
            action=AuditAction.LOGOUT,
            actor_id=user.id,
        )


async def create_personal_token(
    session: AsyncSession, *, user: UserOut, token_in: PersonalTokenCreate
) -> PersonalTokenCreated:
    lifetime = timedelta(days=token_in.expires_in_days) if token_in.expires_in_days else None
    token, row = await _issue_token(
        session, user_id=user.id, name=token_in.name, kind=TokenKind.PERSONAL, lifetime=lifetime
    )
    out = PersonalTokenOut.model_validate(row)
    await audit.record(
        session,
        entity_type="api_token",
        entity_id=row.id,
        action=AuditAction.CREATE,
        actor_id=user.id,
        after=out,
    )
    return PersonalTokenCreated(**out.model_dump(), token=token)


async def get_personal_tokens(
    session: AsyncSession, *, user: UserOut, limit: int, offset: int
) -> tuple[list[PersonalTokenOut], int]:
    condition = (ApiToken.user_id == user.id) & (ApiToken.kind == TokenKind.PERSONAL)
    rows, total = await fetch_page(
        session,
        select(ApiToken).where(condition).order_by(ApiToken.created_at.desc()),
        limit=limit,
        offset=offset,
    )
    return [PersonalTokenOut.model_validate(row) for row in rows], total


async def revoke_personal_token(
    session: AsyncSession, *, user: UserOut, token_id: uuid.UUID
) -> None:
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.id == token_id,
            ApiToken.user_id == user.id,
            ApiToken.kind == TokenKind.PERSONAL,
        )
    )
    if row is None:
        raise NotFound.of("Token", token_id)
    if row.revoked_at is None:
        before = PersonalTokenOut.model_validate(row)
        row.revoked_at = utcnow()
        await audit.record(
            session,
            entity_type="api_token",
            entity_id=row.id,
            action=AuditAction.DELETE,
            actor_id=user.id,
            before=before,
            after=PersonalTokenOut.model_validate(row),
        )


async def set_password(
    session: AsyncSession, *, email: str, password: str, actor_id: uuid.UUID | None
) -> UserOut:
    """A new password for ``email``; its login tokens are revoked (personal tokens stay)."""
    user = await session.scalar(
        select(UserAccount).where(UserAccount.email == email.strip().lower())
    )
    if user is None:
        raise NotFound(f"No user with email {email}")
    user.password_hash = await asyncio.to_thread(hash_password, password)
    now = utcnow()
    for token in await session.scalars(
        select(ApiToken).where(
            ApiToken.user_id == user.id,
            ApiToken.kind == TokenKind.LOGIN,
            ApiToken.revoked_at.is_(None),
        )
    ):
        token.revoked_at = now
    out = UserOut.model_validate(user)
    await audit.record(
        session,
        entity_type="user",
        entity_id=user.id,
        action=AuditAction.UPDATE,
        actor_id=actor_id or user.id,
        before=out,
        after=out,
    )
    return out
