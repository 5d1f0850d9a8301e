"""``berrys user`` and ``berrys token``: accounts, their passwords (never from argv) and API
tokens."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from berrys.cli.common import (
    ADMIN_PASSWORD_FILE,
    console,
    err_console,
    load_settings,
    run_async,
)
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import PersonalTokenCreate, UserCreate, UserOut, UserRole

user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage personal API tokens.", no_args_is_help=True)


def _read_password() -> str:
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\n")


@user_app.command("create")
def create_user(
    email: str = typer.Option(..., help="The user's email (their login)."),
    role: UserRole = typer.Option(
        UserRole.MEMBER, case_sensitive=False, help="ADMIN, MEMBER or VIEWER."
    ),
) -> None:
    """Create a user; the password is read from a prompt or stdin, never the command line."""
    settings = load_settings()
    try:
        user_in = UserCreate.model_validate(
            {"email": email, "password": _read_password(), "role": role}
        )
    except ValidationError as exc:
        for error in exc.errors():
            err_console.print(f"[red]{'.'.join(map(str, error['loc']))}:[/] {error['msg']}")
        raise typer.Exit(2) from None

    async def _create(database: Database) -> UserOut:
        async with database.transaction() as session:
            return await auth.create_user(session, user_in=user_in, actor_id=None)

    user = run_async(_create, settings)
    console.print(f"Created {user.role} {user.email} ({user.id})")


@user_app.command("reset-password")
def reset_password(
    email: str = typer.Argument(..., help="Whose password (their email)."),
) -> None:
    """Set a new password (from a prompt or stdin, never the command line); the user's
    login sessions end."""
    settings = load_settings()
    try:
        password = UserCreate.model_validate({"email": email, "password": _read_password()})
    except ValidationError as exc:
        for error in exc.errors():
            err_console.print(f"[red]{'.'.join(map(str, error['loc']))}:[/] {error['msg']}")
        raise typer.Exit(2) from None

    async def _reset(database: Database) -> UserOut:
        async with database.transaction() as session:
            return await auth.set_password(
                session,
                email=email,
                password=password.password.get_secret_value(),
                actor_id=None,
            )

    user = run_async(_reset, settings)
    # The first admin's one-time password is no longer true: its file goes.
    kept = settings.data_dir / ADMIN_PASSWORD_FILE
    if kept.exists() and f"email: {user.email}\n" in kept.read_text(encoding="utf-8"):
        kept.unlink()
    console.print(f"New password set for {user.email}; their login sessions have ended.")


@token_app.command("create")
def create_token(
    email: str = typer.Option(..., help="Whose token."),
    name: str = typer.Option("cli", help="A label to recognise the token by."),
    days: int = typer.Option(90, min=1, max=3650, help="Days until it expires."),
) -> None:
    """Create a personal API token and print it (once)."""
    settings = load_settings()

    async def _create(database: Database) -> str:
        async with database.transaction() as session:
            created = await auth.create_personal_token(
                session,
                user=await auth.get_by_email(session, email=email),
                token_in=PersonalTokenCreate(name=name, expires_in_days=days),
            )
            return created.token

    console.print(run_async(_create, settings), soft_wrap=True)
