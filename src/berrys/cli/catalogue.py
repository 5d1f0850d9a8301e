"""``berrys catalogue list|show|validate``: the project types Berrys plans from, and checking
your own in ``<data dir>/catalogue/``."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from berrys.cli.common import console, err_console, load_settings
from berrys.services.catalogue import service as catalogue

app = typer.Typer(
    help="Project types and deliverable types (add your own as YAML).", no_args_is_help=True
)
JSON = typer.Option(False, "--json", help="Machine-readable output.")


def _loaded() -> catalogue.Catalogue:
    settings = load_settings()
    try:
        return catalogue.current(settings)
    except catalogue.CatalogueError as exc:
        err_console.print(f"[red]Catalogue error[/] {escape(str(exc))}")
        raise typer.Exit(1) from None


@app.command("list")
def list_types(as_json: bool = JSON) -> None:
    """Every project type: key, name, team and size of its breakdown."""
    current = _loaded()
    summaries = [catalogue.summary(t) for t in sorted(current.types.values(), key=lambda t: t.key)]
    if as_json:
        print(json.dumps([s.model_dump(mode="json") for s in summaries], indent=2))
        return
    table = Table("key", "name", "team", "tasks")
    for item in summaries:
        table.add_row(item.key, item.name, ", ".join(item.team), str(item.tasks))
    console.print(table)
    console.print(f"{len(summaries)} project types, {len(current.deliverables)} deliverable types")


@app.command("show")
def show(
    key: str = typer.Argument(..., help="A project type's key (see: berrys catalogue list)."),
    as_json: bool = JSON,
) -> None:
    """One project type: its signals, team, phases and tasks, and risks."""
    found = _loaded().types.get(key)
    if found is None:
        err_console.print(f"[red]No project type {key!r}[/]: `berrys catalogue list` shows them.")
        raise typer.Exit(1)
    if as_json:
        print(found.model_dump_json(indent=2))
        return
    console.print(
        f"[bold]{escape(found.name)}[/] ({found.key} v{found.version}): {escape(found.summary)}"
    )
    console.print(f"Signals: {escape(', '.join(found.signals.strong[:12]))}")
    console.print("Team: " + "; ".join(f"{r.name} ({r.agent_type.value})" for r in found.team))
    table = Table("phase", "task", "agent", "hours", "deliverable", "after")
    for phase in found.phases:
        for task in phase.tasks:
            after = ", ".join(f"{d.task} {d.type.value}" for d in task.depends_on)
            table.add_row(
                phase.name,
                escape(task.name),
                task.agent,
                f"{task.hours:g}",
                task.deliverable,
                after,
            )
    console.print(table)
    for risk in found.risks:
        console.print(f"Risk ({risk.level.value}): {escape(risk.risk)} — {escape(risk.mitigation)}")


@app.command("validate")
def validate(as_json: bool = JSON) -> None:
    """Check every catalogue file, shipped and yours; exit 1 naming each broken file and field."""
    settings = load_settings()
    user_dir = settings.catalogue_dir
    try:
        current = catalogue.build([catalogue.SHIPPED, user_dir])
    except catalogue.CatalogueError as exc:
        if as_json:
            print(json.dumps({"valid": False, "file": str(exc.path), "problems": exc.problems}))
        else:
            err_console.print(f"[red]Invalid:[/] {escape(str(exc.path))}")
            for problem in exc.problems:
                err_console.print(f"  {escape(problem)}")
        raise typer.Exit(1) from None
    own = sorted(
        name for name, path in current.files.items() if not path.is_relative_to(catalogue.SHIPPED)
    )
    if as_json:
        print(
            json.dumps(
                {
                    "valid": True,
                    "types": len(current.types),
                    "deliverables": len(current.deliverables),
                    "yours": own,
                }
            )
        )
        return
    console.print(
        f"[green]Valid:[/] {len(current.types)} project types, {len(current.deliverables)} "
        f"deliverable types ({len(own)} from {escape(str(user_dir))})"
    )
