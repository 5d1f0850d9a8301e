"""The deliverables service: offline drafts, machine checks, the quality gate, and a model's
draft against the outline (gated, repaired once, else replaced by the offline draft).

The model is reached through a ``complete(prompt)`` callable the caller supplies (the run
engine passes one that records the call in the task's journal), so this service holds no
transaction and needs no model service of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from berrys.services.catalogue.contracts import DeliverableType, ProjectFacts
from berrys.services.deliverables import _checks, _offline, _prompts
from berrys.services.deliverables import _gate as gating
from berrys.services.deliverables._drafting import plural, provenance
from berrys.services.deliverables._facts import entities_in, project_facts, with_upstream
from berrys.services.deliverables.contracts import (
    Draft,
    DraftFile,
    DraftResult,
    Finding,
    GateResult,
)

__all__ = [
    "Complete",
    "check",
    "draft",
    "draft_offline",
    "entities_in",
    "gate",
    "model_prompt",
    "project_facts",
    "review_reasons",
    "screen",
    "with_upstream",
    "write",
]

# ``complete(prompt)`` -> {"content", "provider", "model"} (provider "RULES": no model answered)
Complete = Callable[[str], Awaitable[dict[str, Any]]]
RULES = "RULES"


def draft_offline(
    deliverable: DeliverableType,
    facts: ProjectFacts,
    *,
    source: str,
    stem: str | None = None,
    feedback: Iterable[str] = (),
) -> Draft:
    """The outline filled from the project's facts and the catalogue's standard content;
    what only a person can supply is a TODO(owner). ``source`` names the catalogue (``Event``:
    "Offline draft from the Event catalogue"); ``feedback`` from a person on an earlier draft
    is listed as TODOs (no model is there to apply it)."""
    return _offline.draft_offline(deliverable, facts, source=source, stem=stem, feedback=feedback)


def check(
    deliverable: DeliverableType, draft: Draft, *, facts: ProjectFacts | None = None
) -> list[Finding]:
    """The type's machine checks (sections, terms, columns, totals, placeholders, calendar,
    code files); with ``facts`` a calendar must hold the plan's scheduled tasks."""
    return _checks.check(deliverable, draft, facts)


def gate(
    text: str, *, deliverable: DeliverableType, facts: ProjectFacts, prompt: str
) -> GateResult:
    """The quality gate for a model's draft."""
    return gating.gate(text, deliverable=deliverable, facts=facts, prompt=prompt)


def screen(text: str, *, prompt: str, allowed: Iterable[str] = ()) -> GateResult:
    """The gate's loop and echo checks for a free-form answer (no deliverable type)."""
    return gating.screen(text, prompt=prompt, allowed=allowed)


def model_prompt(
    deliverable: DeliverableType, facts: ProjectFacts, *, feedback: Iterable[str] = ()
) -> str:
    """What a model is asked for a Markdown deliverable."""
    return _prompts.model_prompt(deliverable, facts, feedback=feedback)


def review_reasons(draft: Draft, findings: Iterable[Finding] = ()) -> list[str]:
    """Why a person must look at a draft: its TODOs, then its findings (empty: final)."""
    reasons = [f"{plural(draft.todo_count, 'TODO')} for a person"] if draft.todos else []
    for finding in findings:
        if finding.message not in reasons:
            reasons.append(finding.message)
    return reasons


def _from_rules(answer: dict[str, Any]) -> bool:
    return str(answer.get("provider") or RULES).upper() == RULES


def _produced_by(answer: dict[str, Any]) -> str:
    return f"{answer.get('provider') or RULES}/{answer.get('model') or 'rules'}"


def _offline_result(
    deliverable: DeliverableType,
    facts: ProjectFacts,
    draft: Draft,
    *,
    replaced: str | None = None,
    gate_findings: list[Finding] | None = None,
    verdicts: list[dict[str, Any]] | None = None,
) -> DraftResult:
    """The offline draft as the result; ``verdicts`` None: it competed with no model."""
    found = check(deliverable, draft, facts=facts)
    if verdicts is not None:
        verdicts = [*verdicts, {"provider": RULES, "model": "", "passed": not found, "call": None}]
    return DraftResult(
        draft=draft,
        source="offline",
        produced_by="RULES/offline-draft",
        replaced=replaced,
        gate=gate_findings or [],
        checks=found,
        review_reasons=review_reasons(draft, found),
        verdicts=verdicts or [],
    )


def _model_draft(
    deliverable: DeliverableType,
    facts: ProjectFacts,
    text: str,
    verdict: GateResult,
    *,
    produced_by: str,
    stem: str,
    source: str,
) -> Draft:
    todos = []
    for line in text.splitlines():
        if "TODO(" in line:
            item = line[line.index("TODO(") :].strip()
            if item not in todos:
                todos.append(item)
    state = "passed the quality gate" if verdict.clean else "flagged by the quality gate"
    left = f"{plural(len(todos), 'TODO')} for a person" if todos else "no TODOs left"
    line = f"Drafted by {produced_by} to the {deliverable.title} outline; {state}; {left}"
    document = f"> {line}\n\n{text.strip()}\n"
    companion_line = provenance(source, 0, how="Generated from the plan's schedule")
    files = [DraftFile(name=f"{stem}.md", media_type="text/markdown", text=document)]
    files += _offline.companions(deliverable, facts, stem, companion_line)
    return Draft(
        deliverable=deliverable.key,
        format=deliverable.format,
        files=files,
        preview=document,
        todos=todos,
        provenance=line,
        source="model",
    )


async def draft(
    deliverable: DeliverableType,
    facts: ProjectFacts,
    *,
    source: str,
    complete: Complete,
    stem: str | None = None,
    feedback: Iterable[str] = (),
) -> DraftResult:
    """A deliverable drafted by the model behind ``complete`` against its outline, checked by
    the gate and repaired once; replaced by the offline draft when it still fails or when no
    model answered. Tables, calendars and code are generated offline (no model call)."""
    stem = stem or _offline.default_stem(deliverable)
    notes = [str(note) for note in feedback if str(note).strip()]
    # Drafting and checking offline is pure CPU (a workbook is built, then read back: tens of
    # ms): in a thread, so that the event loop goes on serving requests and other tasks.
    fallback = await asyncio.to_thread(
        draft_offline, deliverable, facts, source=source, stem=stem, feedback=notes
    )
    if deliverable.format != "markdown":
        return await asyncio.to_thread(_offline_result, deliverable, facts, fallback)
    return await _model_or_offline(
        deliverable, facts, fallback, complete=complete, notes=notes, stem=stem, source=source
    )


async def _model_or_offline(
    deliverable: DeliverableType,
    facts: ProjectFacts,
    fallback: Draft,
    *,
    complete: Complete,
    notes: list[str],
    stem: str,
    source: str,
) -> DraftResult:
    """The model's draft if it passes the gate, at once or after one repair; else the offline
    ``fallback``, with why it replaced the model's."""
    base = model_prompt(deliverable, facts)
    ask = model_prompt(deliverable, facts, feedback=notes) if notes else base
    answer = await complete(ask)
    if _from_rules(answer):
        return await asyncio.to_thread(_offline_result, deliverable, facts, fallback, verdicts=[])
    text, verdict = _judged(answer, deliverable, facts, prompt=base)
    verdicts = [_verdict(answer, verdict.passed, 0)]
    if not verdict.passed:
        first = _produced_by(answer)
        answer = await complete(_prompts.repair_prompt(ask, text, verdict.findings))
        if _from_rules(answer):
            return _offline_result(
                deliverable,
                facts,
                fallback,
                replaced=f"{first}'s draft failed the quality gate and no model could repair it",
                gate_findings=verdict.findings,
                verdicts=verdicts,
            )
        text, verdict = _judged(answer, deliverable, facts, prompt=base)
        verdicts.append(_verdict(answer, verdict.passed, 1))
        if not verdict.passed:
            failing = "; ".join(f.message for f in verdict.findings if f.severity == "fail")
            return _offline_result(
                deliverable,
                facts,
                fallback,
                replaced=f"{_produced_by(answer)}'s draft failed the quality gate twice: {failing}",
                gate_findings=verdict.findings,
                verdicts=verdicts,
            )
    return _model_result(
        deliverable,
        facts,
        text,
        verdict,
        answer=answer,
        verdicts=verdicts,
        stem=stem,
        source=source,
    )


def _judged(
    answer: dict[str, Any], deliverable: DeliverableType, facts: ProjectFacts, *, prompt: str
) -> tuple[str, GateResult]:
    """The model's draft without code fences, and the gate's verdict on it."""
    text = _prompts.strip_fences(str(answer.get("content") or ""))
    return text, gate(text, deliverable=deliverable, facts=facts, prompt=prompt)


def _model_result(
    deliverable: DeliverableType,
    facts: ProjectFacts,
    text: str,
    verdict: GateResult,
    *,
    answer: dict[str, Any],
    verdicts: list[dict[str, Any]],
    stem: str,
    source: str,
) -> DraftResult:
    """The model's draft that passed the gate, with the checks a person still has to look at."""
    produced_by = _produced_by(answer)
    result = _model_draft(
        deliverable, facts, text, verdict, produced_by=produced_by, stem=stem, source=source
    )
    found = [
        f for f in check(deliverable, result, facts=facts) if f.check not in ("sections", "terms")
    ]
    return DraftResult(
        draft=result,
        source="model",
        produced_by=produced_by,
        gate=verdict.findings,
        checks=found,
        review_reasons=review_reasons(result, [*verdict.findings, *found]),
        verdicts=verdicts,
    )


def _verdict(answer: dict[str, Any], passed: bool, call: int) -> dict[str, Any]:
    return {
        "provider": str(answer.get("provider") or RULES),
        "model": str(answer.get("model") or ""),
        "passed": passed,
        "call": call,
    }


def write(draft: Draft, folder: Path) -> list[Path]:
    """Write the draft's files under ``folder`` (the same bytes on every replay)."""
    paths = []
    root = folder.resolve()
    for file in draft.files:
        path = (folder / file.name).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"{file.name!r} is outside {folder}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.content)
        paths.append(path)
    return paths
