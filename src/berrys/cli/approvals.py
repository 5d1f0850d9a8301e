"""``berrys approvals list|answer``: what waits for a person's yes or no, as REST shows it.

An approval is named by its id or a unique prefix of it (the first 8 characters the table
shows).
"""

from __future__ import annotations

import json
import uuid

import typer
from rich.markup import escape
from rich.table import Table

from berrys.cli.common import (
    AS_USER,
    JSON_OPTION,
    WIDE_OPTION,
    acting_user,
    console,
    load_settings,
    operator_email,
    run_async,
    short_id,
    when,
)
from berrys.core.db import Database
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import (
    HumanInteractionType,
    InteractionOut,
    InteractionResponse,
    InteractionStatus,
)
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs

app = typer.Typer(help="Approvals: what waits for a person, and the answer.", no_args_is_help=True)


async def _visible(
    database: Database, user: UserOut, status: InteractionStatus | None
) -> list[InteractionOut]:
    async with database.transaction(read_only=True) as session:
        visible = await projects.visible_scope(session, user=user)
        items, _ = await interactions.get_all(
            session,
            limit=500,
            offset=0,
            project_ids=visible,
            status=status,
            type=HumanInteractionType.APPROVAL,
        )
    return items


def why(item: InteractionOut) -> str:
    """Why a person is asked: the risk and the rules the approval carries, else its prompt."""
    details = item.detail.get("details") or {}
    parts = [
        f"{key}: {details[key]}"
        for key in ("risk", "reason", "rules", "tool", "estimated_cost_usd")
        if details.get(key) not in (None, "", [])
    ]
    return "; ".join(parts) or item.prompt or item.title


@app.command("list")
def list_approvals(
    show_all: bool = typer.Option(False, "--all", help="Answered and expired ones too."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Approvals waiting for a person (PENDING), newest first."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> list[InteractionOut]:
        user = await acting_user(database, email)
        return await _visible(database, user, None if show_all else InteractionStatus.PENDING)

    items = run_async(_list, settings)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    if not items:
        console.print("Nothing waits for an approval.")
        return
    table = Table(title=f"{len(items)} approval{'s' if len(items) != 1 else ''}")
    table.add_column("Id", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("What", overflow="fold", ratio=2)
    table.add_column("Why", overflow="fold", ratio=3)
    table.add_column("Asked", no_wrap=True)
    for item in items:
        table.add_row(
            short_id(item.id, wide),
            item.status.value,
            escape(item.title),
            escape(why(item)),
            when(item.created_at),
        )
    console.print(table)
    console.print("Answer: [bold]berrys approvals answer ID --approve[/] (or [bold]--reject[/])")


@app.command("answer")
def answer(
    approval: str = typer.Argument(..., help="The approval's id, or a unique prefix of it."),
    approve: bool = typer.Option(
        ..., "--approve/--reject", help="Approve (the run goes on) or reject."
    ),
    comment: str | None = typer.Option(None, "--comment", help="Kept with the answer."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
) -> None:
    """Approve or reject a pending approval; a waiting run resumes at once."""
    settings = load_settings()
    email = operator_email(settings, as_user)
    wanted = approval.strip().lower()

    async def _answer(database: Database) -> InteractionOut:
        user = await acting_user(database, email)
        auth.require_writer(user)
        try:
            chosen = uuid.UUID(wanted)
        except ValueError:
            if len(wanted) < 4:
                raise Unprocessable(f"Not an approval id: {approval!r}") from None
            pending = await _visible(database, user, InteractionStatus.PENDING)
            found = [item.id for item in pending if str(item.id).startswith(wanted)]
            if len(found) > 1:
                raise Unprocessable(f"{approval!r} names several approvals") from None
            if not found:
                raise NotFound(
                    f"No pending approval {approval!r} (`berrys approvals list` shows them)"
                ) from None
            chosen = found[0]
        async with database.transaction() as session:
            return await runs.respond_interaction(
                session,
                interaction_id=chosen,
                response=InteractionResponse(approved=approve, comment=comment),
                user=user,
            )

    answered = run_async(_answer, settings)
    if as_json:
        print(json.dumps(answered.model_dump(mode="json"), indent=2))
        return
    verb = "Approved" if approve else "Rejected"
    console.print(f"{verb}: {escape(answered.title)} ({answered.id})", soft_wrap=True)
