"""``berrys chat``: talk to Berry from the command line, as a given user, on this database."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator

import typer
from rich.markup import escape

from berrys.cli.common import (
    console,
    err_console,
    load_settings,
    operator_email,
    run_with_services,
)
from berrys.services.auth import service as auth
from berrys.services.chat import service as chat
from berrys.services.chat.contracts import ChatMessageCreate, ChatReply, ChatSessionCreate
from berrys.wiring import Services

_STYLE = {
    "COMPLETED": "green",
    "FAILED": "red",
    "NEEDS_CONFIRMATION": "yellow",
    "CANCELLED": "dim",
}


def _show(reply: ChatReply) -> None:
    console.print(f"[bold magenta]Berry:[/] {escape(reply.reply)}", soft_wrap=True)
    for action in reply.actions:
        style = _STYLE.get(action.status.value, "white")
        ident = action.result.get("project_id") or action.result.get("run_id") or ""
        console.print(f"  [{style}]{action.type.value} {action.status.value}[/] {ident}".rstrip())


def chat_command(
    message: list[str] | None = typer.Argument(
        None, help="What to say; without it, read one message per line (a prompt on a terminal)."
    ),
    email: str | None = typer.Option(
        None,
        "--email",
        "--as",
        help="Who is talking (their projects, their role); default: the admin.",
    ),
    session_id: uuid.UUID | None = typer.Option(
        None, "--session", help="Continue this conversation (default: a new one)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON reply per message."),
) -> None:
    """Talk to Berry: "create a project called Bakery Site to build a website for my bakery",
    then "generate the team", "now plan it", "start it", "how is it going?"."""
    settings = load_settings()
    email = operator_email(settings, email)
    said = " ".join(message or []).strip()

    async def _talk(services: Services) -> None:
        async with services.database.transaction() as session:
            user = await auth.get_by_email(session, email=email)
            current = session_id
            if current is None:
                current = (
                    await chat.create_session(session, user=user, session_in=ChatSessionCreate())
                ).id
            else:
                await chat.get_session(session, session_id=current, user=user)
        if not as_json:
            console.print(f"[dim]Conversation {current}[/]")
        lines = [said] if said else _lines()
        for line in lines:
            if not line.strip():
                continue
            if line.strip().lower() in {"exit", "quit"}:
                break
            content = ChatMessageCreate(content=line).content
            reply = await chat.send(
                services.models,
                services.database,
                session_id=current,
                user=user,
                content=content,
                background=services.background,
            )
            if as_json:
                print(json.dumps(reply.model_dump(mode="json"), ensure_ascii=False), flush=True)
            else:
                _show(reply)

    run_with_services(_talk, settings)


def _lines() -> Iterator[str]:
    if not sys.stdin.isatty():
        yield from (line.rstrip("\n") for line in sys.stdin)
        return
    err_console.print("[dim]Say something to Berry; an empty line or 'exit' ends.[/]")
    while True:
        try:
            line = console.input("[bold]You:[/] ")
        except (EOFError, KeyboardInterrupt):
            return
        if not line.strip():
            return
        yield line
