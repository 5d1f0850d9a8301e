"""Top-level commands; each group lives in its own module."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version

import typer
from sqlalchemy.engine import make_url

from berrys.cli import (
    agents,
    alerts,
    approvals,
    artifacts,
    catalogue,
    chat,
    common,
    db,
    mcp,
    models,
    plan,
    projects,
    publish,
    review,
    runs,
    schedules,
    search,
    secrets,
    serve,
    tools,
    users,
    webhooks,
)
from berrys.cli import run as run_cli
from berrys.cli import worker as worker_cli
from berrys.cli import workers as workers_cli
from berrys.cli.common import console, load_settings, setup_logging

app = typer.Typer(
    name="berrys",
    help="Berrys: describe a project, get a team of AI agents, a plan and a durable run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _configure(
    ctx: typer.Context,
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        help="Show log lines on stderr (-v: INFO, -vv: DEBUG); they always go to the log file.",
    ),
) -> None:
    # Logs go to stderr and the log file before any command runs, so a command's stdout
    # (--json, tables) stays clean.
    common.verbosity = verbose
    settings = load_settings()
    setup_logging(settings, server=ctx.invoked_subcommand in {"serve", "worker"})


def info_command(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Which data directory, database and log file this command uses, and why."""
    settings = load_settings()
    url = make_url(settings.resolved_database_url)
    try:
        berrys_version = version("berrys")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        berrys_version = "unknown"
    admin_file = settings.data_dir / common.ADMIN_PASSWORD_FILE
    facts = {
        "version": berrys_version,
        "data_dir": str(settings.data_dir.resolve()),
        "data_dir_from": common.data_dir_origin(settings),
        "database": url.render_as_string(hide_password=True),
        "embedded_database": settings.is_embedded_database,
        "log_file": str((settings.data_dir / common.LOG_FILE).resolve()),
        "admin_password_file": str(admin_file.resolve()) if admin_file.exists() else None,
    }
    if as_json:
        print(json.dumps(facts, indent=2))
        return
    console.print(f"Berrys {facts['version']}")
    console.print(
        f"Data directory: {facts['data_dir']}  ({facts['data_dir_from']})", soft_wrap=True
    )
    console.print(f"Database:       {facts['database']}", soft_wrap=True)
    console.print(f"Log file:       {facts['log_file']}", soft_wrap=True)
    if facts["admin_password_file"]:
        console.print(f"First admin:    {facts['admin_password_file']}", soft_wrap=True)


app.command("serve")(serve.serve)
app.command("run")(run_cli.run_command)
app.command("worker")(worker_cli.worker_command)
app.command("workers")(workers_cli.workers_command)
app.command("chat")(chat.chat_command)
app.command("search")(search.search_command)
app.command("info")(info_command)
app.command("mcp")(mcp.mcp_command)
app.add_typer(db.app, name="db")
app.add_typer(users.user_app, name="user")
app.add_typer(users.token_app, name="token")
app.add_typer(projects.app, name="projects")
app.add_typer(runs.app, name="runs")
app.add_typer(approvals.app, name="approvals")
app.add_typer(alerts.app, name="alerts")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(tools.app, name="tools")
app.add_typer(agents.app, name="agents")
app.add_typer(plan.app, name="plan")
app.add_typer(models.app, name="models")
app.add_typer(review.app, name="review")
app.add_typer(catalogue.app, name="catalogue")
app.add_typer(secrets.app, name="secrets")
app.add_typer(schedules.app, name="schedules")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(publish.app, name="publish")
