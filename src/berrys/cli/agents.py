"""``berrys agents``: generate a project's team from its description, and list its agents."""

from __future__ import annotations

import typer
from rich.table import Table

from berrys.cli.common import (
    AS_USER,
    console,
    load_settings,
    operator_email,
    resolve_project,
    run_async,
)
from berrys.core.db import Database
from berrys.services.agents import service as agents
from berrys.services.agents.contracts import AgentOut, GenerateRequest, GenerationOut

app = typer.Typer(help="Agents: generate a project's team, list its agents.", no_args_is_help=True)


@app.command("generate")
def generate(
    project: str = typer.Argument(..., help="The project's name or id."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the team, save nothing."),
    description: str | None = typer.Option(
        None, help="Generate from this text instead of the project's description."
    ),
    as_user: str | None = AS_USER,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Turn the project's description into requirements, a team and a collaboration graph."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _generate(database: Database) -> GenerationOut:
        user, found = await resolve_project(database, project, email)
        with console.status("Generating the team...", spinner="dots"):
            return await agents.generate(
                database,
                project_id=found.id,
                request=GenerateRequest(dry_run=dry_run, description=description),
                user=user,
            )

    result = run_async(_generate, settings)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    requirements = Table(title="Requirements", show_lines=False)
    for column in ("#", "requirement", "category", "priority", "confidence"):
        requirements.add_column(column, overflow="fold")
    for item in result.requirements:
        requirements.add_row(
            str(item.id), item.text, item.category, item.priority, f"{item.confidence:.2f}"
        )
    team = Table(title="Team" + (" (dry run: nothing saved)" if result.dry_run else ""))
    for column in ("name", "type", "role", "requirements", "skills", "id"):
        team.add_column(column, overflow="fold")
    for agent in result.team:
        team.add_row(
            agent.name + (" (kept)" if agent.kept else ""),
            agent.agent_type,
            agent.role,
            ", ".join(map(str, agent.requirement_ids)),
            ", ".join(agent.skills[:5]),
            str(agent.id) if agent.id else "-",
        )
    console.print(requirements)
    console.print(team)
    for edge in result.collaboration:
        console.print(f"  {edge.from_agent} --{edge.interaction}--> {edge.to_agent}")
    sources = ", ".join(
        f"{step}: {source.provider}{' (fallback)' if source.fallback else ''}"
        for step, source in result.sources.items()
    )
    console.print(f"[dim]answered by {sources}; kept {result.kept}, replaced {result.replaced}[/]")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")


@app.command("list")
def list_agents(
    project: str = typer.Argument(..., help="The project's name or id."),
    as_user: str | None = AS_USER,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The project's agents with their type, role and state."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> list[AgentOut]:
        user, found = await resolve_project(database, project, email)
        async with database.transaction(read_only=True) as session:
            items, _ = await agents.get_all(
                session, project_id=found.id, user=user, limit=200, offset=0
            )
        return items

    items = run_async(_list, settings)
    if as_json:
        console.print_json(data=[item.model_dump(mode="json") for item in items])
        return
    table = Table(title=f"Agents of {project}")
    for column in ("name", "type", "role", "state", "generated", "id"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            item.name,
            item.agent_type,
            item.role,
            item.state,
            "yes" if item.generated else "no",
            str(item.id),
        )
    console.print(table if items else "No agents yet: run `berrys agents generate PROJECT`.")
