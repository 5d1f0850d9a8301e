"""The agent executor's part for tasks with a deliverable type: the project's facts read once
and journaled, the gate's verdicts counted per model, and the outcome (files, artifacts,
output, review reasons) of a draft from the deliverables service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from berrys.core.db import Database
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import ProjectFacts
from berrys.services.deliverables import service as deliverables
from berrys.services.deliverables.contracts import DraftResult
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import ModelProvider
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import StepKind
from berrys.services.runs.service import ArtifactSpec, TaskContext, TaskOutcome

_log = structlog.get_logger("berrys.executor")


async def read_facts(
    database: Database, known: catalogue.Catalogue, ctx: TaskContext, user: UserOut
) -> ProjectFacts:
    """The project's facts, read once in a short read-only transaction and recorded in
    the journal (a replay drafts from the same facts), with the upstream outputs."""

    async def read() -> dict[str, Any]:
        async with database.transaction(read_only=True) as session:
            plan_id = await runs.plan_of(session, run_id=ctx.task.run_id)
            facts = await deliverables.project_facts(
                session,
                project_id=ctx.task.project_id,
                plan_id=plan_id,
                user=user,
                known=known,
            )
        return facts.model_dump(mode="json")

    # Recorded as a step like a model call: idempotent, its result replayed.
    recorded = await ctx.step(StepKind.MODEL, "facts", {"facts": ctx.task.key}, read)
    facts = ProjectFacts.model_validate(recorded)
    upstream = dict(ctx.task.upstream)
    answers = [str(value) for value in (ctx.task.spec.get("answers") or {}).values()]
    if answers:  # what people told the task: facts it may use
        upstream["_answers"] = {"task_name": "Answers from people", "text": "\n".join(answers)}
    return deliverables.with_upstream(facts, upstream)


async def record_verdicts(
    models: llm.Runtime, database: Database, verdicts: list[dict[str, Any]]
) -> None:
    """Count the quality gate's verdicts per model (the router holds models that do
    worse than the offline draft out of TASK and REVIEW); a count lost is harmless."""
    if not verdicts:
        return
    try:
        for verdict in verdicts:
            provider = ModelProvider(str(verdict["provider"]).upper())
            model = verdict.get("model") or ""
            if provider == ModelProvider.RULES:
                model = llm.OFFLINE_DRAFT_MODEL
            await llm.record_gate(
                models,
                database,
                provider=provider,
                model=model,
                task_type=verdict["task_type"],
                passed=bool(verdict["passed"]),
            )
    except Exception as exc:
        _log.info("executor.gate_verdicts_not_recorded", error=str(exc))


def outcome(
    ctx: TaskContext,
    result: DraftResult,
    *,
    folder: Path,
    agent_name: str | None,
    review: dict[str, Any] | None,
    review_retries: int,
    review_reasons: list[str],
) -> TaskOutcome:
    """Every file of the draft written to the run's folder, an artifact each, and the
    output: the Markdown to show, where the draft came from, its checks and why a person
    must look (the draft's TODOs and findings, then the reviewer's)."""
    draft = result.draft
    paths = deliverables.write(draft, folder)  # the same bytes on every replay
    reasons = [*result.review_reasons, *review_reasons]
    output = {
        "text": draft.preview,
        "format": draft.format,
        "deliverable": draft.deliverable,
        "task_name": ctx.task.name,
        "agent": agent_name,
        "produced_by": result.produced_by,
        "path": str(paths[0]),
        "files": [str(path) for path in paths],
        "provenance": draft.provenance,
        "todos": draft.todos,
        "draft": {
            "source": result.source,
            "replaced": result.replaced,
            "gate": [finding.model_dump() for finding in result.gate],
        },
        "checks": [finding.model_dump() for finding in result.checks],
        "review": review,
        "review_retries": review_retries,
    }
    artifacts = [
        ArtifactSpec(
            name=(ctx.task.name if index == 0 else f"{ctx.task.name}: {file.name}")[:200],
            media_type=file.media_type,
            content=file.text or "",
            path=str(path),
        )
        for index, (file, path) in enumerate(zip(draft.files, paths, strict=True))
    ]
    return TaskOutcome(
        output=output,
        artifacts=artifacts,
        produced_by=result.produced_by,
        review_reasons=reasons,
    )
