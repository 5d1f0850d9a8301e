"""``berrys mcp``: Berrys as an MCP server on stdin/stdout, for an MCP client that starts it."""

from __future__ import annotations

import typer

from berrys.cli.common import err_console, load_settings, run_with_services
from berrys.mcp_server import stdio


def mcp_command(
    token: str = typer.Option(
        "",
        "--token",
        envvar="BERRYS_TOKEN",
        show_default=False,
        help="An API token (`berrys token create`); its user is who the client acts as.",
    ),
) -> None:
    """Serve Berrys' tools and resources to an MCP client over stdio, against the configured
    database; what the client does is done, checked and audited as the token's user."""
    settings = load_settings()
    if not token.strip():
        err_console.print("[red]No token:[/] give --token or set BERRYS_TOKEN")
        raise typer.Exit(2)
    run_with_services(lambda services: stdio.serve(services, token.strip()), settings)
