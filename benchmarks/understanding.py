"""How well Berrys understands a project offline: type accuracy, team recall and violations,
plan specificity, copied task names and time per project, on a labelled set of descriptions
(``benchmarks/data/understanding.json``; labels are what a professional would staff).

The peer, measured in the same run, is the local embedder alone (the type whose examples are
nearest), to show what the catalogue's signals add.

    python benchmarks/understanding.py [--runs 3] [--data PATH] [--show]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
from pathlib import Path

from berrys.config import Settings
from berrys.services.catalogue import _classify
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import Methodology
from berrys.services.llm import service as llm

DATA = Path(__file__).parent / "data" / "understanding.json"
GENERIC_NAMES = re.compile(r"^(?:build|verify|document|plan|research|design|review):", re.I)
_WORD = re.compile(r"[a-z]{3,}")


def type_correct(chosen: list[str], item: dict) -> bool:
    labels = item["types"]
    if not labels:
        return chosen == []
    if item.get("mixed"):
        return set(labels) <= set(chosen)
    return bool(chosen) and chosen[0] in labels


def specific(name: str, vocabulary: set[str]) -> bool:
    """A task name names the actual work: not a template ("Build: ...") and it carries a word
    of the project's subject (its description, its types' signals or its deliverables)."""
    return not GENERIC_NAMES.match(name) and bool(set(_WORD.findall(name.lower())) & vocabulary)


def vocabulary(description: str, type_keys: list[str]) -> set[str]:
    current = catalogue.shipped()
    words = set(_WORD.findall(description.lower()))
    for key in type_keys:
        project_type = current.types[key]
        for term in [*project_type.signals.strong, *project_type.signals.weak]:
            words |= set(_WORD.findall(term.lower()))
        for task in project_type.tasks:
            words |= set(_WORD.findall(current.deliverable(task.deliverable).title.lower()))
    return words - {"the", "and", "for", "with", "our", "this", "that"}


async def measure(models: llm.Runtime, items: list[dict], show: bool) -> dict[str, float]:
    correct = peer_correct = must = found = violations = names = named = copied = 0
    tiny_ok = tiny = 0
    seconds: list[float] = []
    current = catalogue.shipped()
    for item in items:
        description = item["description"]
        started = time.perf_counter()
        understood = await catalogue.understand(models, description)
        members = [
            catalogue.Member(r.name, r.agent_type, tuple(s.lower() for s in r.skills))
            for r in understood.roles.values()
        ]
        plan = catalogue.plan_draft(understood, members, Methodology.CRITICAL_PATH)
        seconds.append(time.perf_counter() - started)
        chosen = [t.key for t in understood.types]
        evidence = await _classify.evidence(models, description, current)
        nearest = max(evidence, key=lambda e: e.similarity).project_type.key
        correct += type_correct(chosen, item)
        peer_correct += type_correct([nearest], item) if item["types"] else False
        team = {r.agent_type.value for r in understood.roles.values()}
        must += len(item["must"])
        found += len(set(item["must"]) & team)
        bad = set(item["must_not"]) & team
        violations += len(bad)
        words = vocabulary(description, chosen)
        task_names = [t.name for phase in plan.phases for t in phase.tasks]
        names += len(task_names)
        named += sum(specific(n, words) for n in task_names)
        copied += sum(catalogue.copies(n, description) for n in task_names)
        if item.get("tiny"):
            tiny += 1
            tiny_ok += len(task_names) <= 2 and len(team) == 1
        if show or not type_correct(chosen, item) or bad or set(item["must"]) - team:
            print(
                f"- {description}\n  types {chosen} (labels {item['types']}), team {sorted(team)}"
            )
            print(f"  tasks: {'; '.join(task_names)}")
    return {
        "descriptions": len(items),
        "type accuracy": correct / len(items),
        "peer type accuracy (embedder alone)": peer_correct / len(items),
        "team recall": found / must,
        "team violations": violations,
        "plan specificity": named / names,
        "copied task names": copied,
        "tiny projects kept tiny": f"{tiny_ok}/{tiny}",
        "ms per project (median)": 1000 * statistics.median(seconds),
        "ms per project (max)": 1000 * max(seconds),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--show", action="store_true", help="print every project, not only misses")
    args = parser.parse_args()
    items = json.loads(args.data.read_text(encoding="utf-8"))
    # The embedder the environment configures (BERRYS_EMBEDDING_MODEL), as a server's.
    models = llm.build_runtime(Settings())
    await catalogue.understand(models, "warm the embedder and the type examples")
    runs = [await measure(models, items, args.show and run == 0) for run in range(args.runs)]
    await models.aclose()
    print(f"\n{'metric':40} " + " ".join(f"run {i + 1:>8}" for i in range(len(runs))))
    for key in runs[0]:
        values = " ".join(
            f"{v:12.3f}" if isinstance(v, float) else f"{v!s:>12}" for v in (r[key] for r in runs)
        )
        print(f"{key:40} {values}")


if __name__ == "__main__":
    asyncio.run(main())
