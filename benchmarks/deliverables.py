"""Whole runs and their deliverables (the run half of issue 14's benchmark).

Each description in ``benchmarks/data/deliverables_descriptions.json`` becomes a project on a
fresh SQLite data directory and runs to its end in this process, as ``berrys run --approve
auto`` does with nothing configured (RULES only, the bundled model off). Then, for every task,
its deliverable type's machine checks are run again on the files it wrote, and its status and
review reasons are read back.

``--mode bad`` runs the same with a scripted model (gated, like any configured model) that
answers every deliverable request with deliberately bad text: a line or a sentence looping,
the prompt echoed, a one-liner, a well-formed draft with invented facts (dates, prices, people,
places, a link) and one with a single invented link. One kind per deliverable, its repair
included. Reported: the model drafts the gate caught, the garbage that ended COMPLETED (must
be 0) and the replacements recorded in ``output["draft"]``.

    python benchmarks/deliverables.py [--runs 3] [--limit N] [--mode offline|bad|both] [--show]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berrys.cli.run import _watch  # berrys run's worker loop (--approve auto)
from berrys.config import Settings
from berrys.core import migrate
from berrys.core.logging import configure_logging
from berrys.services.auth import service as auth
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import ProjectFacts
from berrys.services.deliverables import service as deliverables
from berrys.services.deliverables._drafting import document_title
from berrys.services.deliverables.contracts import Draft, DraftFile
from berrys.services.llm import service as llm
from berrys.services.llm._providers.base import Unsupported
from berrys.services.llm.contracts import ModelProvider, ModelTaskType
from berrys.services.pipeline import service as pipeline
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs.contracts import RunCreate, TaskRunStatus
from berrys.wiring import Services

DATA = Path(__file__).parent / "data" / "deliverables_descriptions.json"
ADMIN = "admin@berrys.local"
TEN_TASK_LIMIT = 60.0
RUN_TIMEOUT = 300.0

# --- bad model output ------------------------------------------------------------------------

BAD_KINDS = (
    "loop: a line",
    "loop: a sentence",
    "echo: the prompt",
    "too short",
    "invented facts",
    "invented: one link",
)
_PROSE = (
    "For {title}, {terms} come first, and each has a named owner before work starts.",
    "We keep {terms} in one place so nobody on {title} has to chase them.",
    "The team agreed how {terms} will be handled and who signs each one off.",
    "Nothing here goes out until {terms} have been checked against the brief.",
    "Everyone involved can see {terms}, with the open questions listed beside them.",
    "{Terms} are reviewed again a week before the deadline, and changes are noted.",
    "This part explains {terms} in plain words for people new to {title}.",
    "When {terms} change, the coordinator updates this page and tells the team.",
)
_INVENTED = (
    "Doors open at 10:30 on 17 May, and the first 250 visitors get a free gift.",
    "It costs £12.50 a head, and 85% of last year's guests said they would come back.",
    "Councillor Margaret Okafor opens the day at the Westbrook Pavilion.",
    "Full details are at https://www.westbrook-events.co.uk/register.",
)
_ONE_LINK = "Sign-ups and updates are at https://www.brightfield-hub.com/join."


def _outline(prompt: str) -> list[tuple[str, list[str]]]:
    """(heading, terms it must mention) of each section the drafting prompt asks for."""
    part = prompt.split("\n## Outline\n", 1)[-1].split("\n## Rules", 1)[0]
    sections: list[tuple[str, list[str]]] = []
    for line in part.splitlines():
        if line.startswith("### "):
            sections.append((line[4:].strip(), []))
        elif line.startswith("Must mention: ") and sections:
            sections[-1][1].extend(t.strip() for t in line[14:].split(","))
    return sections


def _fluent(title: str, prompt: str, extra: list[str]) -> str:
    """A well-formed draft in the outline, written in its own words, with ``extra``
    sentences (the inventions) spread through it."""
    lines = [f"# {title}", ""]
    sections = _outline(prompt) or [("Overview", []), ("Details", []), ("Next steps", [])]
    for index, (heading, terms) in enumerate(sections):
        named = terms or [heading.lower()]
        listed = ", ".join(named[:-1]) + f" and {named[-1]}" if len(named) > 1 else named[0]
        sentence = _PROSE[index % len(_PROSE)].format(title=title, terms=listed, Terms=listed)
        lines += [f"## {heading}", "", sentence[0].upper() + sentence[1:]]
        if index < len(extra):
            lines.append(extra[index])
        lines.append("")
    return "\n".join(lines)


def bad_text(kind: str, prompt: str) -> str:
    first = prompt.splitlines()[0] if prompt else ""
    found = re.search(r"“(.+?)”", first)
    title = found.group(1) if found else first.removeprefix("# Task: ")
    if kind == "loop: a line":
        return f"# {title}\n\n" + "- Scope:\n" * 62
    if kind == "loop: a sentence":
        return f"# {title}\n\n" + "Your plan is finished. " * 36 + "\n"
    if kind == "echo: the prompt":
        return prompt
    if kind == "too short":
        return f"# {title}\n\nEverything is ready. See you there!\n"
    if kind == "invented facts":
        return _fluent(title, prompt, list(_INVENTED))
    return _fluent(title, prompt, [_ONE_LINK])


class BadModel:
    """Answers every TASK request with bad text, one kind per deliverable (its first prompt
    line: the same for the draft and its repair); other requests go to RULES."""

    assigned = 0  # kinds handed out in this process: each run starts where the last ended

    def __init__(self) -> None:
        self.kinds: dict[str, str] = {}
        self.answers: Counter[str] = Counter()

    def __call__(self, request: Any) -> str:
        if request.task_type != ModelTaskType.TASK:
            raise Unsupported("this benchmark's model only drafts deliverables")
        prompt = request.messages[-1].content
        key = prompt.splitlines()[0] if prompt else ""
        if key not in self.kinds:
            self.kinds[key] = BAD_KINDS[BadModel.assigned % len(BAD_KINDS)]
            BadModel.assigned += 1
        kind = self.kinds[key]
        self.answers[kind] += 1
        return bad_text(kind, prompt)

    def kind_of(self, first_line: str) -> str | None:
        return next((k for line, k in self.kinds.items() if line.startswith(first_line)), None)


# --- one run ---------------------------------------------------------------------------------


@dataclass
class TaskResult:
    name: str
    deliverable: str | None
    status: str
    findings: list[str]
    todos: int
    reasons: list[str]
    source: str  # offline | model | note (no deliverable type)
    markdown: bool = False  # the only format a model drafts
    on_disk_offline: bool = False  # its file says "Offline draft" first
    replaced: str | None = None
    kind: str | None = None  # bad mode: what the model wrote for it

    @property
    def passes(self) -> bool:
        return not self.findings

    @property
    def final(self) -> bool:
        return self.status == TaskRunStatus.COMPLETED.value

    @property
    def final_with_problems(self) -> bool:
        return self.final and (bool(self.findings) or self.todos > 0)


@dataclass
class RunResult:
    id: str
    seconds: float
    status: str
    types: list[str] = field(default_factory=list)
    tasks: list[TaskResult] = field(default_factory=list)
    model_answers: int = 0
    verdicts: tuple[int, int] = (0, 0)  # the gate's verdicts on the model's drafts: passed, failed


def _draft(deliverable: str, files: list[str], folder: Path) -> Draft:
    """The draft as it is on disk (what a person gets)."""
    parts = []
    for name in files:
        path = Path(name)
        relative = path.resolve().relative_to(folder.resolve()).as_posix()
        data = path.read_bytes()
        if relative.endswith(".xlsx"):
            parts.append(DraftFile(name=relative, media_type="application/octet-stream", data=data))
        else:
            parts.append(DraftFile(name=relative, media_type="text/plain", text=data.decode()))
    return Draft(deliverable=deliverable, format="", files=parts, preview="", provenance="")


def _free_form_source(output: dict[str, Any]) -> str:
    """A task with no deliverable type: a model's answer, or the offline note."""
    return "note" if str(output.get("produced_by", "RULES")).startswith("RULES") else "model"


def judge(task: Any, facts: ProjectFacts, folder: Path, bad: BadModel | None) -> TaskResult:
    """A task as a person finds it: its files re-checked against its type, its status."""
    output = task.output or {}
    key = output.get("deliverable")
    files = output.get("files") or ([output["path"]] if output.get("path") else [])
    texts = [Path(f).read_bytes().decode(errors="replace") for f in files]
    findings: list[str] = []
    first = f"# Task: {task.name}"  # what the model was asked first (for its kind)
    deliverable = catalogue.deliverable_type(catalogue.shipped(), key)
    if deliverable is not None:
        draft = _draft(key, files, folder)
        findings = [f.message for f in deliverables.check(deliverable, draft, facts=facts)]
        first = f"Draft “{document_title(deliverable, facts)}”"
    drafted = output.get("draft") or {}
    return TaskResult(
        name=task.name,
        deliverable=key,
        status=task.status.value,
        findings=findings,
        todos=sum(text.count("TODO(") for text in texts),
        reasons=list(task.review_reasons),
        source=drafted.get("source") or _free_form_source(output),
        replaced=drafted.get("replaced"),
        markdown=deliverable is not None and deliverable.format == "markdown",
        on_disk_offline=bool(texts) and texts[0].startswith("> Offline draft"),
        kind=bad.kind_of(first) if bad is not None else None,
    )


async def run_one(item: dict[str, Any], *, bad: bool) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="berrys-bench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp), local_model_enabled=False, log_level="WARNING", _env_file=None
        )
        services = Services.build(settings)
        database = services.database
        model = BadModel() if bad else None
        script = None
        if model is not None:
            quality = {task: 0 for task in ModelTaskType} | {ModelTaskType.TASK: 10}
            script = llm.script(
                services.models, "bad-model", [model] * 10_000, quality=quality, gated=True
            )
        try:
            await migrate.upgrade(database)
            await auth.ensure_first_admin(database, settings)
            async with database.transaction(read_only=True) as session:
                user = await auth.get_by_email(session, email=ADMIN)
            started = time.perf_counter()
            async with database.transaction() as session:
                project = await projects.create(
                    session,
                    project_in=ProjectCreate(
                        name=catalogue.title(item["text"]), description=item["text"]
                    ),
                    user=user,
                )
            begun = await pipeline.start(
                services.models,
                database,
                embedder=services.embedder,
                project_id=project.id,
                user=user,
                run_in=RunCreate(options={}),
            )
            final = await _watch(services, begun.run, "auto", True)
            seconds = time.perf_counter() - started
            async with database.transaction(read_only=True) as session:
                profile = await catalogue.get_profile(session, project_id=project.id, user=user)
            folder = settings.workspace_dir(project.id) / "runs" / str(final.id)
            async with database.transaction(read_only=True) as session:
                facts = await deliverables.project_facts(
                    session,
                    project_id=project.id,
                    plan_id=final.plan_id,
                    user=user,
                    known=catalogue.current(settings),
                )
            rates = [
                rate
                for rate in await llm.gate_rates(database)
                if rate.provider == ModelProvider.SCRIPTED and rate.task_type == ModelTaskType.TASK
            ]
            result = RunResult(
                id=item["id"],
                seconds=seconds,
                status=final.status.value,
                types=[t.key for t in profile.types] if profile else [],
                tasks=[judge(task, facts, folder, model) for task in final.task_runs],
                model_answers=sum(model.answers.values()) if model else 0,
                verdicts=(sum(r.passed for r in rates), sum(r.failed for r in rates)),
            )
        finally:
            if script is not None:
                script.uninstall()
            await services.aclose()
    return result


async def guarded(item: dict[str, Any], *, bad: bool) -> RunResult:
    """One run; a crash or a hang is a result (CRASHED), not the end of the benchmark."""
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(run_one(item, bad=bad), RUN_TIMEOUT)
    except Exception as exc:
        print(f"  {item['id']}: CRASHED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return RunResult(id=item["id"], seconds=time.perf_counter() - started, status="CRASHED")


# --- report ----------------------------------------------------------------------------------


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.1%})" if whole else "0/0"


def report(mode: str, results: dict[str, list[RunResult]], show: bool) -> bool:
    runs = [r for rs in results.values() for r in rs]
    tasks = [t for r in runs for t in r.tasks]
    print(f"\n## {mode}: {len(results)} descriptions x {len(runs) // max(1, len(results))} runs")
    print(
        f"{'description':22} {'types':42} {'tasks':>5} {'s':>6} {'checks':>7} {'review':>6} "
        f"{'final':>5} {'bad final':>9}  run status"
    )
    for name, rs in results.items():
        first = rs[0]
        n = len(first.tasks)
        print(
            f"{name:22} {','.join(first.types)[:42]:42} {n:5d} "
            f"{statistics.median(r.seconds for r in rs):6.2f} "
            f"{sum(t.passes for t in first.tasks):3d}/{n:<3d} "
            f"{sum(t.status == 'NEEDS_REVIEW' for t in first.tasks):6d} "
            f"{sum(t.final for t in first.tasks):5d} "
            f"{sum(t.final_with_problems for t in first.tasks):9d}  {first.status}"
        )
    seconds = sorted(r.seconds for r in runs)
    per_run = [len(r.tasks) for r in runs]
    ten = [r.seconds for r in runs if len(r.tasks) >= 10]
    typed = [t for t in tasks if t.deliverable]
    passing = sum(t.passes for t in typed)
    bad_final = [t for t in tasks if t.final_with_problems]
    covered = {k for r in runs for k in r.types}
    print(
        f"\ndeliverables: {len(tasks)} in {len(runs)} runs ({len(typed)} with a type); "
        f"catalogue types understood: {len(covered)}"
    )
    print(f"pass their type's machine checks: {_share(passing, len(typed))}  (target 100 %)")
    print(
        f"NEEDS_REVIEW: {_share(sum(t.status == 'NEEDS_REVIEW' for t in tasks), len(tasks))}; "
        f"COMPLETED: {sum(t.final for t in tasks)}; other: "
        f"{sum(t.status not in ('NEEDS_REVIEW', 'COMPLETED') for t in tasks)}"
    )
    print(f"final (COMPLETED) with TODOs or failed checks: {len(bad_final)}  (target 0)")
    print(
        f"seconds per run: median {statistics.median(seconds):.2f}, max {seconds[-1]:.2f}; "
        f"tasks per run: median {statistics.median(per_run):g}, max {max(per_run)}"
    )
    if ten:
        print(f"runs of 10+ tasks: {len(ten)}, max {max(ten):.2f} s  (target < {TEN_TASK_LIMIT} s)")
    offline_final = Counter(t.deliverable for t in tasks if t.final and t.source == "offline")
    if offline_final:
        print(
            f"final offline drafts (no TODOs, checks pass; read them): "
            f"{sum(offline_final.values())}: {dict(offline_final)}"
        )
    statuses = Counter(r.status for r in runs)
    print("run statuses:", dict(statuses))
    ok = passing == len(typed) and not bad_final and (not ten or max(ten) < TEN_TASK_LIMIT)
    ok = ok and set(statuses) <= {"COMPLETED", "COMPLETED_WITH_REVIEW"}
    if mode == "bad":
        ok = _report_bad(runs) and ok
    if show or not ok:
        for r in runs:
            for t in r.tasks:
                if t.findings or t.final_with_problems or (mode == "bad" and t.final):
                    print(
                        f"  {r.id} / {t.name} [{t.deliverable}] {t.status} {t.source} "
                        f"kind={t.kind}: {t.findings[:3]} reasons={t.reasons[:3]}"
                    )
    return ok


def _report_bad(runs: list[RunResult]) -> bool:
    """Per kind of bad output, the deliverables the model drafted: replaced by the offline
    draft, kept but flagged for a person (NEEDS_REVIEW), kept and final (garbage reported
    final); then the same per draft (first drafts and repairs) from the gate's verdicts."""
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    held_out = unrecorded = 0
    for task in (t for r in runs for t in r.tasks):
        if task.source != "model" and task.replaced is None:
            held_out += task.markdown
            continue
        row = kinds[task.kind or "?"]
        row[0] += 1
        row[1] += task.replaced is not None
        row[2] += task.source == "model" and not task.final
        row[3] += task.source == "model" and task.final
        unrecorded += task.replaced is not None and not task.on_disk_offline
    print(
        f"\n{'model wrote':22} {'drafted':>7} {'replaced':>8} {'flagged':>7} {'final':>5} "
        f"{'recall':>6}"
    )
    for kind in [*BAD_KINDS, "?"]:
        if kind in kinds:
            n, replaced, flagged, final = kinds[kind]
            print(
                f"{kind:22} {n:7d} {replaced:8d} {flagged:7d} {final:5d} "
                f"{(replaced + flagged) / n:6.2f}"
            )
    total = [sum(row[i] for row in kinds.values()) for i in range(4)]
    recall = (total[1] + total[2]) / total[0] if total[0] else 0.0
    print(
        f"{'all deliverables':22} {total[0]:7d} {total[1]:8d} {total[2]:7d} {total[3]:5d} "
        f"{recall:6.2f}"
    )
    passed = sum(r.verdicts[0] for r in runs)
    failed = sum(r.verdicts[1] for r in runs)
    answers = sum(r.model_answers for r in runs)
    caught = failed + total[2]  # a kept draft passed with findings: flagged for a person
    print(
        f"model drafts (first drafts and repairs): {answers}; the gate's verdicts: "
        f"{failed} failed, {passed} passed, of which {total[2]} with findings (kept, "
        f"NEEDS_REVIEW): caught {_share(caught, passed + failed)}"
    )
    print(
        f"Markdown deliverables the router no longer sent to the model (its gate pass rate "
        f"below the offline draft's): {held_out}"
    )
    print(
        f"garbage drafts ended COMPLETED: {total[3]}  (must be 0); replacements recorded in "
        f"output['draft']: {total[1] - unrecorded}/{total[1]}"
    )
    return total[3] == 0 and unrecorded == 0 and caught == passed + failed


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per description (default 3)")
    parser.add_argument("--limit", type=int, help="only the first N descriptions")
    parser.add_argument("--mode", choices=("offline", "bad", "both"), default="both")
    parser.add_argument("--show", action="store_true", help="list every finding")
    args = parser.parse_args()
    # Nothing configured: no model from the environment, the bundled one off.
    for name in [name for name in os.environ if name.startswith("BERRYS_")]:
        del os.environ[name]
    os.environ["BERRYS_LOCAL_MODEL_ENABLED"] = "false"
    configure_logging("ERROR", "console")
    items = json.loads(DATA.read_text(encoding="utf-8"))["descriptions"][: args.limit]
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    cold = await run_one(items[0], bad=False)
    print(
        f"cold run (the first in this process: the catalogue and its embedder load): "
        f"{cold.seconds:.2f} s for {len(cold.tasks)} tasks; not counted below"
    )
    ok = True
    for mode in ("offline", "bad") if args.mode == "both" else (args.mode,):
        results: dict[str, list[RunResult]] = {}
        for item in items:
            for _ in range(args.runs):
                results.setdefault(item["id"], []).append(await guarded(item, bad=mode == "bad"))
        ok = report(mode, results, args.show) and ok
    print(f"\nload average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("targets:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
