"""``berrys search``: what the acting user may see, ranked by similarity to a text."""

from __future__ import annotations

import typer
from pydantic import TypeAdapter, ValidationError
from rich.markup import escape
from rich.table import Table

from berrys.cli.common import (
    AS_USER,
    console,
    err_console,
    load_settings,
    operator_email,
    run_with_services,
)
from berrys.services.auth import service as auth
from berrys.services.search import service as search
from berrys.services.search.contracts import SearchKind, SearchResult, SearchText
from berrys.wiring import Services


def search_command(
    query: str = typer.Argument(..., help="What to look for (1 to 200 characters)."),
    kind: SearchKind | None = typer.Option(
        None, case_sensitive=False, help="Only this kind of item; every kind if omitted."
    ),
    limit: int = typer.Option(10, min=1, max=50, help="How many hits."),
    as_user: str | None = AS_USER,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Projects, tasks, agent templates and tools ranked by similarity to QUERY.

    Example: berrys search "online shop for a bakery" --kind project
    """
    try:
        text = TypeAdapter(SearchText).validate_python(query)
    except ValidationError as exc:
        err_console.print(f"[red]Invalid query:[/] {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from None
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _search(services: Services) -> SearchResult:
        async with services.database.transaction(read_only=True) as session:
            user = await auth.get_by_email(session, email=email)
        # A command's process ends with it, so nothing would use vectors embedded later.
        return await search.similar(
            services.database,
            user=user,
            q=text,
            kinds=[kind] if kind is not None else list(SearchKind),
            limit=limit,
            offset=0,
            budget=None,
            embedder=services.embedder,
            models=services.models,
        )

    with console.status("Searching (texts never seen are embedded first)..."):
        result = run_with_services(_search, settings)
    if as_json:
        console.print_json(data=result.model_dump(mode="json"))
        return
    if not result.items:
        console.print("Nothing similar found.")
        return
    hits = f"{result.total} hit{'' if result.total == 1 else 's'}"
    table = Table(title=f"{hits} for {escape(text)!r} ({result.model or 'words only'})")
    for column in ("score", "kind", "name", "description", "id"):
        table.add_column(column, overflow="fold")
    for hit in result.items:
        table.add_row(
            f"{hit.score:.2f}",
            hit.kind,
            escape(hit.name),
            escape(hit.description[:80]),
            str(hit.id),
        )
    console.print(table)
