"""``berrys webhooks list|add|rm|deliveries PROJECT``: run webhooks of a project and what was
delivered to each, as REST shows them."""

from __future__ import annotations

import json
import uuid

import typer
from pydantic import SecretStr, ValidationError

from berrys.cli.common import (
    AS_USER,
    JSON_OPTION,
    console,
    load_settings,
    operator_email,
    resolve_project,
    run_async,
    run_with_services,
    validation_message,
    when,
)
from berrys.core.db import Database
from berrys.core.errors import Unprocessable
from berrys.services.triggers import service as triggers
from berrys.services.triggers.contracts import (
    WebhookCreate,
    WebhookDeliveryOut,
    WebhookEvent,
    WebhookOut,
)
from berrys.wiring import Services

app = typer.Typer(help="Webhooks told when a project's runs change.", no_args_is_help=True)
PROJECT = typer.Argument(..., help="The project's name or id.")
WEBHOOK = typer.Argument(..., help="The webhook's id.")


def _webhook_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Unprocessable(f"{text!r} is not a webhook id") from None


@app.command("list")
def list_webhooks(
    project: str = PROJECT, as_user: str | None = AS_USER, as_json: bool = JSON_OPTION
) -> None:
    """The project's webhooks and the events each is sent."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> list[WebhookOut]:
        user, found = await resolve_project(database, project, email)
        async with database.transaction(read_only=True) as session:
            items, _ = await triggers.webhooks.get_all(
                session, project_id=found.id, user=user, limit=200, offset=0
            )
        return items

    items = run_async(_list, settings)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    if not items:
        console.print("No webhooks: add one with [bold]berrys webhooks add[/].")
    for item in items:
        events = ",".join(event.value for event in item.events)
        signed = "signed" if item.secret_set else "unsigned"
        console.print(f"{item.id}  {item.url}  {events}  {signed}")


@app.command("add")
def add_webhook(
    project: str = PROJECT,
    url: str = typer.Argument(..., help="Where each event is POSTed (JSON)."),
    event: list[WebhookEvent] = typer.Option(
        ..., "--event", case_sensitive=False, help="An event to send (repeat for more)."
    ),
    secret: str | None = typer.Option(
        None, envvar="BERRYS_WEBHOOK_SECRET", help="Signs each delivery (16+ characters)."
    ),
    as_user: str | None = AS_USER,
) -> None:
    """Add a webhook; run events from now on are sent to it."""
    settings = load_settings()
    email = operator_email(settings, as_user)
    try:
        webhook_in = WebhookCreate(
            url=url, events=event, secret=SecretStr(secret) if secret else None
        )
    except ValidationError as exc:
        raise typer.BadParameter(validation_message(exc)) from None

    async def _add(services: Services) -> WebhookOut:
        user, found = await resolve_project(services.database, project, email)
        async with services.database.transaction() as session:
            return await triggers.webhooks.create(
                session,
                services.models.secrets,
                project_id=found.id,
                webhook_in=webhook_in,
                user=user,
            )

    webhook = run_with_services(_add, settings)
    console.print(f"Added webhook {webhook.id} ({'signed' if webhook.secret_set else 'unsigned'})")


@app.command("rm")
def remove_webhook(
    project: str = PROJECT, webhook_id: str = WEBHOOK, as_user: str | None = AS_USER
) -> None:
    """Delete a webhook with its deliveries."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _remove(database: Database) -> None:
        user, found = await resolve_project(database, project, email)
        async with database.transaction() as session:
            await triggers.webhooks.delete(
                session, project_id=found.id, webhook_id=_webhook_id(webhook_id), user=user
            )

    run_async(_remove, settings)
    console.print(f"Deleted webhook {webhook_id}.")


@app.command("deliveries")
def list_deliveries(
    project: str = PROJECT,
    webhook_id: str = WEBHOOK,
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
) -> None:
    """What was sent to the webhook, the latest first: status, attempts, next retry."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> list[WebhookDeliveryOut]:
        user, found = await resolve_project(database, project, email)
        async with database.transaction(read_only=True) as session:
            items, _ = await triggers.webhooks.deliveries(
                session,
                project_id=found.id,
                webhook_id=_webhook_id(webhook_id),
                user=user,
                limit=200,
                offset=0,
            )
        return items

    items = run_async(_list, settings)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    for item in items:
        codes = ",".join(str(a.status_code or "-") for a in item.attempt_log) or "-"
        retry = f" next {when(item.next_attempt_at)}" if item.next_attempt_at else ""
        console.print(
            f"{when(item.created_at)}  {item.event.value}  run {item.run_id}  "
            f"{item.status.value}  attempts {item.attempts} ({codes}){retry}"
        )
