"""``berrys secrets``: the stored secrets (API keys, webhook and MCP credentials),
re-encrypted under a new secret key."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from berrys.cli.common import console, err_console, load_settings, run_with_services
from berrys.config import Settings
from berrys.core.encryption import SecretBox, SecretUnreadable
from berrys.core.errors import Unprocessable
from berrys.services.alerts import service as alerts
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.llm import service as llm
from berrys.services.publishing import service as publishing
from berrys.services.tools import service as tools
from berrys.services.triggers import service as triggers
from berrys.wiring import Services

app = typer.Typer(
    help="Stored secrets (API keys, webhook secrets, MCP credentials): rotate their key.",
    no_args_is_help=True,
)


def _old_key(settings: Settings, old_key_file: Path | None) -> str:
    """The previous secret key, from the file or BERRYS_OLD_SECRET_KEY; else exit 2."""
    if old_key_file is not None:
        try:
            old = old_key_file.read_text().strip()
        except OSError as exc:
            err_console.print(f"[red]Cannot read {old_key_file}:[/] {exc.strerror}")
            raise typer.Exit(2) from None
    elif settings.old_secret_key is not None:
        old = settings.old_secret_key.get_secret_value().strip()
    else:
        old = ""
    if not old:
        err_console.print(
            "[red]No previous key:[/] give the key the secrets were encrypted with as "
            "BERRYS_OLD_SECRET_KEY or --old-key-file PATH."
        )
        raise typer.Exit(2)
    if old == settings.resolved_secret_key:
        err_console.print(
            "[red]The previous key is the current one:[/] set BERRYS_SECRET_KEY (or the data "
            "directory's secret_key file) to the new key first."
        )
        raise typer.Exit(2)
    return old


@app.command()
def rotate(
    old_key_file: Path | None = typer.Option(
        None, help="A file holding the previous secret key (default: BERRYS_OLD_SECRET_KEY)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Re-encrypt the stored API keys, webhook secrets and MCP servers' headers and tokens
    under the current secret key.

    From the previous key (--old-key-file or BERRYS_OLD_SECRET_KEY) to the current one
    (BERRYS_SECRET_KEY, or the data directory's secret_key file), in one transaction: all
    of them or, if one is under neither key, none.
    """
    settings = load_settings()
    box = SecretBox(settings.resolved_secret_key, [_old_key(settings, old_key_file)])

    async def _rotate(services: Services) -> list[str]:
        try:
            async with services.database.transaction() as session:
                keys = await llm.rotate_secrets(services.models, session, box=box)
                keys += await alerts.rotate_secrets(session, box=box)
                keys += await triggers.webhooks.rotate_secrets(session, box=box)
                keys += await publishing.rotate_secrets(session, box=box)
                keys += await tools.rotate_secrets(session, box=box)
                await audit.record(
                    session,
                    entity_type="secret_key",
                    entity_id=None,
                    action=AuditAction.UPDATE,
                    actor_id=None,
                    after={"re_encrypted": keys},
                )
                return keys
        except SecretUnreadable as exc:
            raise Unprocessable(f"Nothing was changed: {exc}") from None

    names = run_with_services(_rotate, settings)
    if as_json:
        print(json.dumps({"re_encrypted": names}))
        return
    console.print(
        f"Re-encrypted {len(names)} stored secret(s) under the current secret key"
        + (f": {', '.join(names)}" if names else ".")
    )
    console.print("Restart running servers and workers, then drop BERRYS_OLD_SECRET_KEY.")
