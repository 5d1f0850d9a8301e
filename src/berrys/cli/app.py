"""Top-level commands; each group lives in its own module."""

from __future__ import annotations

import typer

from berrys.cli import (
    agents,
    catalogue,
    chat,
    db,
    models,
    plan,
    review,
    search,
    serve,
    tools,
    users,
)
from berrys.cli import run as run_cli
from berrys.cli import worker as worker_cli
from berrys.cli.common import load_settings
from berrys.core.logging import configure_logging

app = typer.Typer(
    name="berrys",
    help="Berrys: describe a project, get a team of AI agents, a plan and a durable run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _configure() -> None:
    # Logs go to stderr before any command runs, so a command's stdout (--json) stays clean.
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)


app.command("serve")(serve.serve)
app.command("run")(run_cli.run_command)
app.command("worker")(worker_cli.worker_command)
app.command("chat")(chat.chat_command)
app.command("search")(search.search_command)
app.add_typer(db.app, name="db")
app.add_typer(users.user_app, name="user")
app.add_typer(users.token_app, name="token")
app.add_typer(tools.app, name="tools")
app.add_typer(agents.app, name="agents")
app.add_typer(plan.app, name="plan")
app.add_typer(models.app, name="models")
app.add_typer(review.app, name="review")
app.add_typer(catalogue.app, name="catalogue")
