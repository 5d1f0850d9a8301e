"""``berrys models``: the registry, a test call, and usage."""

from __future__ import annotations

import json
import uuid

import typer
from rich.table import Table

from berrys.cli.common import console, load_settings, run_async, run_with_services
from berrys.core.db import Database
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import (
    ChatMessage,
    Completion,
    CompletionRequest,
    ModelOut,
    ModelProvider,
    ModelTaskType,
    UsageReport,
)
from berrys.wiring import Services

app = typer.Typer(help="Models: the registry, a test call, usage.", no_args_is_help=True)


@app.command("list")
def list_models(
    provider: ModelProvider | None = typer.Option(None, help="Only this provider's models."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The registered models (the configured providers' models are added first)."""
    settings = load_settings()

    async def _list(services: Services) -> tuple[list[ModelOut], dict[ModelProvider, str]]:
        await llm.sync_registry(services.models, services.database)
        async with services.database.transaction(read_only=True) as session:
            items, _ = await llm.get_all(session, limit=200, offset=0, provider=provider)
        return items, dict(services.models.unavailable)

    items, unavailable = run_with_services(_list, settings)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "models": [item.model_dump(mode="json") for item in items],
                    "unavailable": {k.value: v for k, v in unavailable.items()},
                }
            )
        )
        return
    table = Table(title="Models")
    for column in ("provider", "name", "local", "enabled", "context", "$/M in", "$/M out"):
        table.add_column(column)
    table.add_column("success", justify="right")
    for item in items:
        table.add_row(
            item.provider.value,
            item.name,
            "yes" if item.is_local else "no",
            "yes" if item.enabled else "no",
            str(item.context_window),
            f"{item.input_price_per_million:g}",
            f"{item.output_price_per_million:g}",
            f"{item.success_rate:.2f}",
        )
    console.print(table)
    for kind, reason in unavailable.items():
        console.print(f"[dim]{kind.value}: {reason}[/]")


@app.command("test")
def try_model(
    prompt: str = typer.Option("Say hello in one short sentence.", help="What to ask."),
    model: str | None = typer.Option(None, help="A model name (default: the router's choice)."),
    task_type: ModelTaskType = typer.Option(ModelTaskType.GENERAL, help="The task type."),
    max_tokens: int = typer.Option(64, min=1, help="Longest answer."),
    local_only: bool = typer.Option(False, help="Only models that run on this machine."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Send one prompt through the router and show who answered, how fast, at what cost."""
    settings = load_settings()
    request = CompletionRequest(
        messages=[ChatMessage(role="user", content=prompt)],
        task_type=task_type,
        model=model,
        max_tokens=max_tokens,
        local_only=local_only,
    )

    async def _test(services: Services) -> Completion:
        return await llm.complete(services.models, services.database, request)

    result = run_with_services(_test, settings)
    if as_json:
        console.print_json(result.model_dump_json(exclude={"parsed"}))
        return
    console.print(f"[bold]{result.provider.value}/{result.model}[/] answered:")
    console.print(result.content)
    console.print(
        f"[dim]{result.latency_ms:.0f} ms, {result.usage.prompt_tokens}+"
        f"{result.usage.completion_tokens} tokens, ${result.usage.cost_usd:.6f}; "
        f"{len(result.attempts)} attempt(s); {result.reason}[/]"
    )


@app.command("usage")
def usage(
    project: uuid.UUID | None = typer.Option(None, help="Only this project's calls."),
    agent: uuid.UUID | None = typer.Option(None, help="Only this agent's calls."),
    model: str | None = typer.Option(None, help="Only this model's calls."),
    limit: int = typer.Option(20, min=0, max=200, help="Latest attempts listed."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Tokens, cost and latency by model, project and agent (everything: this is the operator)."""
    settings = load_settings()

    async def _usage(database: Database) -> UsageReport:
        async with database.transaction(read_only=True) as session:
            return await llm.usage(  # the operator reads all of it
                session,
                visible_to=None,
                project_id=project,
                agent_id=agent,
                model=model,
                limit=limit,
            )

    report = run_async(_usage, settings)
    if as_json:
        console.print_json(report.model_dump_json())
        return
    for title, groups in (("By model", report.by_model), ("By project", report.by_project)):
        table = Table(title=title)
        for column in ("key", "requests", "failures", "tokens in", "tokens out", "cost $", "ms"):
            table.add_column(column)
        for group in [*groups, report.total]:
            table.add_row(
                group.key,
                str(group.requests),
                str(group.failures),
                str(group.prompt_tokens),
                str(group.completion_tokens),
                f"{group.cost_usd:.6f}",
                f"{group.latency_ms_avg:.1f}",
            )
        console.print(table)
    table = Table(title="Latest attempts")
    for column in ("when", "model", "attempt", "outcome", "tokens", "cost $", "ms"):
        table.add_column(column)
    for row in report.requests:
        table.add_row(
            row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{row.provider.value}/{row.model_name}",
            str(row.attempt),
            row.outcome.value,
            str(row.prompt_tokens + row.completion_tokens),
            f"{row.cost_usd:.6f}",
            f"{row.latency_ms:.1f}",
        )
    console.print(table)
