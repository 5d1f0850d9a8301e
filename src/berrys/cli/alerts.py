"""``berrys alerts list|add|rm|episodes``: alert rules and their episodes, as REST shows them.

A rule is named by its id or a unique prefix of it (the first 8 characters the table shows);
``add`` takes the kind and its parameters (``--param idle_minutes=30``), checked as REST
checks them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import typer
from pydantic import SecretStr, ValidationError
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
    resolve_project,
    run_async,
    run_with_services,
    short_id,
    validation_message,
    when,
)
from berrys.core.db import Database
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.alerts import service as alerts
from berrys.services.alerts.contracts import (
    AlertEpisodeOut,
    AlertKind,
    AlertRuleCreate,
    AlertRuleOut,
    EpisodeStatus,
)
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.wiring import Services

app = typer.Typer(
    help="Alerts: rules that watch runs, budgets, approvals and workers; their episodes.",
    no_args_is_help=True,
)


async def _rules(database: Database, user: UserOut) -> list[AlertRuleOut]:
    async with database.transaction(read_only=True) as session:
        items, _ = await alerts.get_all(session, user=user, limit=200, offset=0)
    return items


def _describe(rule: AlertRuleOut) -> str:
    params = rule.condition.model_dump(mode="json", exclude={"kind"})
    return " ".join(f"{key}={value}" for key, value in params.items())


@app.command("list")
def list_rules(
    as_user: str | None = AS_USER, as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION
) -> None:
    """The alert rules you may see, and whether each fires now."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> list[AlertRuleOut]:
        return await _rules(database, await acting_user(database, email))

    items = run_async(_list, settings)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    if not items:
        console.print("No alert rules: add one with [bold]berrys alerts add[/].")
        return
    table = Table(title=f"{len(items)} alert rule{'s' if len(items) != 1 else ''}")
    for column in ("Id", "Name", "Kind", "Condition", "Scope", "State"):
        table.add_column(column, overflow="fold")
    for item in items:
        state = "FIRING" if item.firing else ("ok" if item.enabled else "disabled")
        scope = short_id(item.project_id, wide) if item.project_id else "global"
        table.add_row(
            short_id(item.id, wide),
            escape(item.name),
            item.condition.kind.value,
            escape(_describe(item)),
            scope,
            state,
        )
    console.print(table)


def _params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        params[key.strip()] = value.strip()
    return params


@app.command("add")
def add_rule(
    name: str = typer.Argument(..., help="What the rule is called."),
    kind: AlertKind = typer.Option(..., case_sensitive=False, help="What the rule watches."),
    param: list[str] = typer.Option(
        [], "--param", help="A parameter of the kind, KEY=VALUE (repeat for more)."
    ),
    project: str | None = typer.Option(
        None, help="The project's name or id; none: every project (ADMIN)."
    ),
    webhook: str | None = typer.Option(None, help="URL POSTed on each firing and resolution."),
    webhook_secret: str | None = typer.Option(
        None, envvar="BERRYS_ALERT_WEBHOOK_SECRET", help="Signs the webhook (16+ characters)."
    ),
    email_to: list[str] = typer.Option([], "--email", help="A recipient (repeat for more)."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add an alert rule; it is evaluated at once by every server and worker."""
    settings = load_settings()
    email = operator_email(settings, as_user)
    params = _params(param)

    async def _add(services: Services) -> AlertRuleOut:
        database = services.database
        user = await acting_user(database, email)
        auth.require_writer(user)
        project_id = (await resolve_project(database, project, email))[1].id if project else None
        try:
            rule_in = AlertRuleCreate(
                name=name,
                project_id=project_id,
                condition={"kind": kind, **params},
                webhook_url=webhook,
                webhook_secret=SecretStr(webhook_secret) if webhook_secret else None,
                email_to=email_to,
            )
        except ValidationError as exc:
            raise Unprocessable(validation_message(exc)) from None
        async with database.transaction() as session:
            return await alerts.create(session, services.models.secrets, rule_in=rule_in, user=user)

    rule = run_with_services(_add, settings)
    if as_json:
        print(json.dumps(rule.model_dump(mode="json"), indent=2))
        return
    console.print(f"Added alert rule {escape(rule.name)} ({rule.id}): {_describe(rule)}")


async def _find(database: Database, user: UserOut, wanted: str) -> AlertRuleOut:
    text = wanted.strip().lower()
    try:
        chosen = uuid.UUID(text)
    except ValueError:
        found = [rule for rule in await _rules(database, user) if str(rule.id).startswith(text)]
        if len(text) < 4 or len(found) > 1:
            raise Unprocessable(f"{wanted!r} does not name one rule; give more of its id") from None
        if not found:
            raise NotFound(f"No alert rule {wanted!r} (`berrys alerts list` shows them)") from None
        return found[0]
    async with database.transaction(read_only=True) as session:
        return await alerts.get(session, rule_id=chosen, user=user)


@app.command("rm")
def remove_rule(
    rule: str = typer.Argument(..., help="The rule's id, or a unique prefix of it."),
    as_user: str | None = AS_USER,
) -> None:
    """Delete an alert rule with its episodes."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _remove(database: Database) -> AlertRuleOut:
        user = await acting_user(database, email)
        auth.require_writer(user)
        found = await _find(database, user, rule)
        async with database.transaction() as session:
            await alerts.delete(session, rule_id=found.id, user=user)
        return found

    removed = run_async(_remove, settings)
    console.print(f"Deleted alert rule {escape(removed.name)} ({removed.id}).")


@app.command("episodes")
def list_episodes(
    firing: bool = typer.Option(False, "--firing", help="Only those firing now."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Alert episodes you may see, the latest first."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> list[AlertEpisodeOut]:
        user = await acting_user(database, email)
        async with database.transaction(read_only=True) as session:
            items, _ = await alerts.get_episodes(
                session,
                user=user,
                limit=200,
                offset=0,
                status=EpisodeStatus.FIRING if firing else None,
            )
        return items

    items = run_async(_list, settings)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    if not items:
        console.print("No alert has fired." if not firing else "No alert fires now.")
        return
    table = Table(title=f"{len(items)} episode{'s' if len(items) != 1 else ''}")
    for column in ("Id", "Rule", "State", "What", "Opened", "Resolved"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            short_id(item.id, wide),
            escape(item.rule_name),
            item.status.value,
            escape(item.summary),
            when(item.opened_at),
            when(item.resolved_at),
        )
    console.print(table)
