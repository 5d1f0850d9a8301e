"""``berrys publish bundle|git|webhook|list|show|download|now``: a reviewed run's deliverables
sent out behind a person's approval (``berrys approvals answer``), as REST does it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import typer
from pydantic import SecretStr, ValidationError
from rich.markup import escape
from rich.table import Table

from berrys.cli.common import (
    AS_USER,
    JSON_OPTION,
    WIDE_OPTION,
    console,
    load_settings,
    operator_email,
    parse_id,
    resolve_project,
    run_async,
    run_with_services,
    short_id,
    validation_message,
    when,
)
from berrys.core.db import Database
from berrys.services.publishing import service as publishing
from berrys.services.publishing.contracts import (
    GitOptions,
    PublicationCreate,
    PublicationOut,
    PublicationTarget,
    WebhookOptions,
)
from berrys.wiring import Services

app = typer.Typer(
    help="Publish a reviewed run's deliverables (a bundle, a git commit, a webhook) once a "
    "person approves.",
    no_args_is_help=True,
)
PROJECT = typer.Argument(..., help="The project's name or id.")
PUBLICATION = typer.Argument(..., help="The publication's id.")
RUN = typer.Option(None, "--run", help="The run to publish (default: the latest finished).")
NOTE = typer.Option(None, "--note", help="Shown to the approver.")


def _ask(project: str, as_user: str | None, as_json: bool, build: Mapping[str, object]) -> None:
    """Ask for the publication ``build`` describes and say who must approve it."""
    settings = load_settings()
    email = operator_email(settings, as_user)
    try:
        publication_in = PublicationCreate.model_validate(build)
    except ValidationError as exc:
        raise typer.BadParameter(validation_message(exc)) from None

    async def _create(services: Services) -> PublicationOut:
        user, found = await resolve_project(services.database, project, email)
        async with services.database.transaction() as session:
            return await publishing.create(
                session,
                services.models.secrets,
                services.settings,
                project_id=found.id,
                publication_in=publication_in,
                user=user,
            )

    asked = run_with_services(_create, settings)
    if as_json:
        print(json.dumps(asked.model_dump(mode="json"), indent=2))
        return
    console.print(
        f"Publication {asked.id}: {len(asked.files)} deliverables of run {asked.run_id} to "
        f"{asked.target.value}, waiting for a person's approval."
    )
    console.print(f"Approve: [bold]berrys approvals answer {asked.interaction_id} --approve[/]")


@app.command("bundle")
def publish_bundle(
    project: str = PROJECT,
    run: str | None = RUN,
    note: str | None = NOTE,
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
) -> None:
    """A zip of the deliverables with an index.html, to download once published."""
    _ask(
        project, as_user, as_json, {"target": PublicationTarget.BUNDLE, "run_id": run, "note": note}
    )


@app.command("git")
def publish_git(
    project: str = PROJECT,
    repository: Path = typer.Option(
        ..., "--repository", help="A local git repository under BERRYS_PUBLISH_GIT_ROOTS."
    ),
    branch: str | None = typer.Option(None, help="Default: berrys/publication-<id>."),
    folder: str = typer.Option("deliverables", help="The folder the files go under."),
    run: str | None = RUN,
    note: str | None = NOTE,
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
) -> None:
    """A commit of the deliverables on a branch of a local repository (its checkout untouched)."""
    git = GitOptions(repository=str(repository.absolute()), branch=branch, folder=folder)
    build = {"target": PublicationTarget.GIT, "run_id": run, "note": note, "git": git}
    _ask(project, as_user, as_json, build)


@app.command("webhook")
def publish_webhook(
    project: str = PROJECT,
    url: str = typer.Argument(..., help="Where the JSON manifest is POSTed."),
    secret: str = typer.Option(
        ..., envvar="BERRYS_PUBLISH_SECRET", help="Signs the POST (16+ characters)."
    ),
    run: str | None = RUN,
    note: str | None = NOTE,
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
) -> None:
    """A signed POST of the deliverables' manifest, retried until delivered."""
    try:
        webhook = WebhookOptions(url=url, secret=SecretStr(secret))
    except ValidationError as exc:
        raise typer.BadParameter(validation_message(exc)) from None
    build = {"target": PublicationTarget.WEBHOOK, "run_id": run, "note": note, "webhook": webhook}
    _ask(project, as_user, as_json, build)


@app.command("list")
def list_publications(
    project: str = PROJECT,
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """The project's publications, newest first: status, target, where each went."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> list[PublicationOut]:
        user, found = await resolve_project(database, project, email)
        async with database.transaction(read_only=True) as session:
            items, _ = await publishing.get_all(
                session, project_id=found.id, user=user, limit=200, offset=0
            )
        return items

    items = run_async(_list, settings)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    if not items:
        console.print("No publications: ask for one with [bold]berrys publish bundle PROJECT[/].")
        return
    table = Table(title=f"{len(items)} publication{'s' if len(items) != 1 else ''}")
    for column in ("Id", "Status", "Target", "Run", "Where", "Asked"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            short_id(item.id, wide),
            item.status.value,
            item.target.value,
            short_id(item.run_id, wide),
            escape(item.location or item.error or str(item.result.get("rejected") or "-")),
            when(item.created_at),
        )
    console.print(table)


async def _one(database: Database, project: str, email: str, publication: str) -> PublicationOut:
    user, found = await resolve_project(database, project, email)
    async with database.transaction(read_only=True) as session:
        return await publishing.get(
            session,
            project_id=found.id,
            publication_id=parse_id(publication, "publication"),
            user=user,
        )


@app.command("show")
def show_publication(
    project: str = PROJECT,
    publication: str = PUBLICATION,
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
) -> None:
    """One publication: who asked and approved, its files, where it went, its delivery."""
    settings = load_settings()
    email = operator_email(settings, as_user)
    found = run_async(lambda database: _one(database, project, email, publication), settings)
    if as_json:
        print(json.dumps(found.model_dump(mode="json"), indent=2))
        return
    console.print(f"{found.target.value} publication {found.id}: [bold]{found.status.value}[/]")
    console.print(f"Run {found.run_id}; approval {found.interaction_id}")
    for item in found.files:
        console.print(f"  {escape(item.file_name)}  {item.size} bytes  sha256 {item.sha256[:12]}")
    if found.location:
        console.print(f"Published to {escape(found.location)}")
    if found.error:
        console.print(f"[red]Failed:[/] {escape(found.error)}")
    if found.delivery is not None:
        codes = ",".join(str(a.status_code or "-") for a in found.delivery.attempt_log) or "-"
        console.print(
            f"Delivery {found.delivery.status.value}, attempts {found.delivery.attempts} ({codes})"
        )


@app.command("download")
def download_bundle(
    project: str = PROJECT,
    publication: str = PUBLICATION,
    output: Path | None = typer.Option(None, "--output", "-o", help="Default: its own name."),
    as_user: str | None = AS_USER,
) -> None:
    """Save a published bundle's zip."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _bundle(database: Database) -> tuple[str, Path]:
        user, found = await resolve_project(database, project, email)
        async with database.transaction(read_only=True) as session:
            return await publishing.bundle(
                session,
                settings,
                project_id=found.id,
                publication_id=parse_id(publication, "publication"),
                user=user,
            )

    name, path = run_async(_bundle, settings)
    target = output or Path(name)
    shutil.copyfile(path, target)
    console.print(f"Saved {target}")


@app.command("now")
def publish_now() -> None:
    """Carry out the approved publications and send their webhooks now (what `berrys serve`
    and `berrys worker` do every few seconds)."""
    settings = load_settings()

    async def _pass(services: Services) -> int:
        return await publishing.publish_due(services.database, services.models.secrets, settings)

    done = run_with_services(_pass, settings)
    console.print(f"Carried out {done} publication{'s' if done != 1 else ''}.")
