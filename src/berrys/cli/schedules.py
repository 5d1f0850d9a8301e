"""``berrys schedules list|add|rm PROJECT``: cron schedules that start a run of a project's
current plan, as REST shows them (times in UTC)."""

from __future__ import annotations

import json
import uuid

import typer
from pydantic import ValidationError

from berrys.cli.common import (
    AS_USER,
    JSON_OPTION,
    console,
    load_settings,
    operator_email,
    resolve_project,
    run_async,
    validation_message,
    when,
)
from berrys.core.db import Database
from berrys.core.errors import Unprocessable
from berrys.services.triggers import service as triggers
from berrys.services.triggers.contracts import MissedFires, ScheduleCreate, ScheduleOut

app = typer.Typer(help="Scheduled runs of a project's current plan.", no_args_is_help=True)
PROJECT = typer.Argument(..., help="The project's name or id.")


@app.command("list")
def list_schedules(
    project: str = PROJECT, as_user: str | None = AS_USER, as_json: bool = JSON_OPTION
) -> None:
    """The project's schedules and when each fires next."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> list[ScheduleOut]:
        user, found = await resolve_project(database, project, email)
        async with database.transaction(read_only=True) as session:
            items, _ = await triggers.schedules.get_all(
                session, project_id=found.id, user=user, limit=200, offset=0
            )
        return items

    items = run_async(_list, settings)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    if not items:
        console.print("No schedules: add one with [bold]berrys schedules add[/].")
    for item in items:
        state = f"next {when(item.next_fire_at)} UTC" if item.enabled else "disabled"
        console.print(f"{item.id}  {item.cron!r}  {item.missed.value}  {state}")


@app.command("add")
def add_schedule(
    project: str = PROJECT,
    cron: str = typer.Argument(..., help="Five cron fields in UTC, e.g. '0 6 * * 1-5'."),
    missed: MissedFires = typer.Option(
        MissedFires.SKIP, case_sensitive=False, help="SKIP: one run after a gap; CATCH_UP: each."
    ),
    max_catch_up: int = typer.Option(10, help="At most this many missed fires (CATCH_UP)."),
    as_user: str | None = AS_USER,
) -> None:
    """Add a schedule; every server and worker fires it, each fire time once."""
    settings = load_settings()
    email = operator_email(settings, as_user)
    try:
        schedule_in = ScheduleCreate(cron=cron, missed=missed, max_catch_up=max_catch_up)
    except ValidationError as exc:
        raise typer.BadParameter(validation_message(exc)) from None

    async def _add(database: Database) -> ScheduleOut:
        user, found = await resolve_project(database, project, email)
        async with database.transaction() as session:
            return await triggers.schedules.create(
                session, project_id=found.id, schedule_in=schedule_in, user=user
            )

    schedule = run_async(_add, settings)
    console.print(f"Added schedule {schedule.id}: first run {when(schedule.next_fire_at)} UTC")


@app.command("rm")
def remove_schedule(
    project: str = PROJECT,
    schedule_id: str = typer.Argument(..., help="The schedule's id."),
    as_user: str | None = AS_USER,
) -> None:
    """Delete a schedule."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _remove(database: Database) -> None:
        user, found = await resolve_project(database, project, email)
        try:
            chosen = uuid.UUID(schedule_id)
        except ValueError:
            raise Unprocessable(f"{schedule_id!r} is not a schedule id") from None
        async with database.transaction() as session:
            await triggers.schedules.delete(
                session, project_id=found.id, schedule_id=chosen, user=user
            )

    run_async(_remove, settings)
    console.print(f"Deleted schedule {schedule_id}.")
