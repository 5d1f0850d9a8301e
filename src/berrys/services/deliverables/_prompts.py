"""What a model is asked: the project's facts, the upstream deliverables and the type's
outline, with the rule that anything the facts do not give is a TODO, never a guess."""

from __future__ import annotations

import re
from collections.abc import Iterable

from berrys.services.catalogue.contracts import DeliverableType, ProjectFacts
from berrys.services.deliverables._drafting import document_title, fmt_date, fmt_number
from berrys.services.deliverables.contracts import Finding

UPSTREAM_IN_PROMPT = 3000
RULES = [
    "Start with one `# ` title line that names the project.",
    "Use only the facts above: every name, number, date, price, place, link and quote must "
    "come from them.",
    "Where something is missing, write a line `TODO(owner): what is needed` in its place.",
    "Say each thing once: no filler, no repeated lines.",
    "Write the deliverable itself in Markdown; do not restate this request.",
]


def facts_block(facts: ProjectFacts) -> list[str]:
    """The facts as the prompt states them (the gate allows a draft to repeat these)."""
    lines = [f"- Title: {facts.title}"]
    description = re.sub(r"\s+", " ", facts.description).strip()
    if description:
        lines.append(f"- Description: {description}")
    if facts.project_types:
        lines.append(f"- Kind of project: {', '.join(facts.project_types)}")
    for c in facts.constraints:
        unit = f" {c.unit}" if c.unit else ""
        lines.append(f"- {c.dimension.capitalize()}: {fmt_number(c.value)}{unit} (“{c.text}”)")
    for key, value in facts.particulars.model_dump().items():
        if value:
            lines.append(f"- {key.capitalize()}: {value}")
    if facts.team:
        lines.append("- Team: " + "; ".join(f"{m.name} ({m.role})" for m in facts.team))
    for r in facts.requirements:
        lines.append(f"- Requirement ({r.source}): {r.text}")
    if facts.entities:
        lines.append(f"- Records kept: {', '.join(facts.entities)}")
    for task in facts.schedule:
        if task.start and task.finish:
            when = f"{fmt_date(task.start)} to {fmt_date(task.finish)}"
            critical = ", critical path" if task.critical else ""
            who = f", {task.agent}" if task.agent else ""
            lines.append(f"- Scheduled: {task.name}: {when}{who}{critical}")
    return lines


def outline_block(deliverable: DeliverableType) -> list[str]:
    lines: list[str] = []
    for section in deliverable.sections:
        lines += ["", f"### {section.heading}", f"Purpose: {section.guidance}"]
        if section.must_contain:
            lines.append(f"Must mention: {', '.join(section.must_contain)}")
        if section.standard:
            lines.append("Usually covers: " + "; ".join(section.standard))
        asks = [
            *section.todos,
            *(i for items in section.todos_unless_known.values() for i in items),
        ]
        if asks:
            lines.append(f"Ask {section.owner} for: " + "; ".join(asks))
    return lines


def model_prompt(
    deliverable: DeliverableType, facts: ProjectFacts, *, feedback: Iterable[str] = ()
) -> str:
    """The drafting request for a Markdown deliverable."""
    lines = [
        f"Draft “{document_title(deliverable, facts)}”: {deliverable.summary}",
        "",
        "## Facts",
        *facts_block(facts),
    ]
    if facts.upstream:
        lines += ["", "## Earlier deliverables of this project"]
        for name, text in facts.upstream.items():
            lines += ["", f"### {name}", text[:UPSTREAM_IN_PROMPT]]
    lines += [
        "",
        "## Outline",
        "One `## ` heading per section below, named as here and in this order.",
        *outline_block(deliverable),
        "",
        "## Rules",
        *[f"- {rule}" for rule in RULES],
    ]
    notes = [note for note in feedback if note.strip()]
    if notes:
        lines += ["", "## Reviewer feedback to address", *[f"- {note}" for note in notes]]
    return "\n".join(lines)


def repair_prompt(prompt: str, draft: str, findings: list[Finding]) -> str:
    """The same request, with the draft that failed and why."""
    problems = [f"- {finding.message}" for finding in findings]
    return "\n".join(
        [
            prompt,
            "",
            "## Your previous draft had these problems",
            *problems,
            "",
            "Write the whole deliverable again with these fixed.",
            "",
            "## Previous draft",
            draft[:6000],
        ]
    )


def strip_fences(text: str) -> str:
    """A draft without the code fence some models wrap Markdown in."""
    stripped = text.strip()
    match = re.fullmatch(r"```(?:markdown|md)?\s*\n(.*?)\n```", stripped, re.DOTALL)
    return (match.group(1) if match else stripped).strip() + "\n"
