"""The quality gate on good and bad deliverables (the gate half of issue 14's benchmark).

Good: hand-written reference deliverables in ``benchmarks/data/deliverables/good/``, each with
its brief (the project's facts) in a YAML front matter, written only from that brief. Bad:
what small models wrote in the issue's measurements, rebuilt from each brief (a line or a
sentence looping, a section repeated, the prompt or its instructions echoed, the old offline
answer, a one-liner, the good text with invented dates, prices, names and links, another
project's deliverable), plus the hand-written fluent inventions in ``bad/``.

A deliverable counts as flagged when the gate reports anything (a failure or a finding for a
person). Reported: recall on the bad (flagged / bad), false positives on the good (flagged /
good), per kind of bad output, and the gate's time per draft.

    python benchmarks/deliverables_gate.py [--show-good] [--show-missed]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from berrys.services.catalogue._catalogue import SHIPPED, read
from berrys.services.catalogue.contracts import (
    Constraint,
    DeliverableType,
    FactMember,
    ProjectFacts,
    Requirement,
    ScheduledTask,
)
from berrys.services.deliverables import service as deliverables
from berrys.services.deliverables._prompts import RULES

DATA = Path(__file__).parent / "data" / "deliverables"
TARGET_RECALL = 0.95
TARGET_FALSE_POSITIVES = 0.05


@dataclass
class Case:
    name: str
    deliverable: DeliverableType
    facts: ProjectFacts
    text: str

    @property
    def prompt(self) -> str:
        return deliverables.model_prompt(self.deliverable, self.facts)


def _front_matter(path: Path) -> tuple[dict[str, Any], str]:
    raw = path.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n(.*)", raw, re.DOTALL)
    if match is None:
        raise SystemExit(f"{path}: no front matter")
    return yaml.safe_load(match.group(1)), match.group(2)


def _deliverable(meta: dict[str, Any]) -> DeliverableType:
    if "outline" in meta:  # a type the catalogue does not ship (memo, meeting notes, ...)
        return DeliverableType.model_validate(meta["outline"])
    return read(SHIPPED / "deliverables" / f"{meta['deliverable']}.yaml", DeliverableType)


def _facts(meta: dict[str, Any]) -> ProjectFacts:
    team = []
    for member in meta.get("team", []):
        name, _, role = member.partition(":")
        team.append(FactMember(name=name.strip(), role=role.strip(), agent_type="ASSISTANT"))
    return ProjectFacts(
        title=meta["title"],
        description=meta["description"],
        project_types=meta.get("types", []),
        constraints=[Constraint(**c) for c in meta.get("constraints", [])],
        team=team,
        requirements=[
            Requirement(text=text, category="FUNCTIONAL", priority="HIGH", source="stated")
            for text in meta.get("requirements", [])
        ],
        schedule=[ScheduledTask(**task) for task in meta.get("schedule", [])],
        entities=meta.get("entities", []),
    )


def load_cases(folder: Path) -> list[Case]:
    cases = []
    for path in sorted(folder.glob("*.md")):
        meta, text = _front_matter(path)
        cases.append(Case(path.stem, _deliverable(meta), _facts(meta), text))
    return cases


# --- bad outputs, rebuilt from each brief -----------------------------------------------------


def _sections(text: str) -> list[str]:
    return [part for part in re.split(r"\n(?=## )", text) if part.startswith("## ")]


def _invent(text: str) -> str:
    """The good text with the fluent inventions the issue measured: a made-up date, price,
    percentage, person, place and link, in sentences that read well."""
    additions = [
        "Doors open at 10:30 on 17 May, and the first 250 visitors get a free gift.",
        "Tickets cost £12.50, and 85% of last year's guests said they would come back.",
        "Councillor Margaret Okafor will open the day at the Westbrook Pavilion.",
        "Full details are at https://www.eventhub-westbrook.co.uk/register.",
    ]
    lines = text.rstrip().splitlines()
    step = max(1, len(lines) // (len(additions) + 1))
    for index, addition in enumerate(additions, start=1):
        lines.insert(min(len(lines), index * step + index - 1), addition)
    return "\n".join(lines) + "\n"


def _one_date(text: str) -> str:
    """The good text with a single made-up date, the subtlest invention."""
    lines = text.rstrip().splitlines()
    lines.insert(len(lines) // 2, "Everyone involved meets for a final check on 21 April.")
    return "\n".join(lines) + "\n"


def bad_outputs(case: Case, other: Case) -> dict[str, str]:
    title = case.facts.title
    sections = _sections(case.text)
    first = sections[0] if sections else case.text
    criteria = "\n".join(f"- {item}: addressed below." for item in case.deliverable.acceptance)
    return {
        "loop: a line": f"# {title}\n\n" + "- Scope:\n" * 62,
        "loop: a sentence": f"# {title}\n\n" + "Your plan is finished. " * 36 + "\n",
        "loop: a section": f"# {title}\n\n" + (first.rstrip() + "\n\n") * 6,
        "loop: phrases": f"# {title}\n\n"
        + " ".join(
            f"The {title} will be a great success and everyone will enjoy the {title}."
            for _ in range(12)
        )
        + "\n",
        "echo: the prompt": case.prompt,
        "echo: the instructions": case.text.rstrip() + "\n\n" + "\n".join(RULES) + "\n",
        "echo: the old offline answer": f"# {title}\n\n## Summary\n{case.facts.description}\n\n"
        f"## Deliverable\n{criteria}\n\n_Drafted offline by the rules provider; review before "
        "use._\n",
        "too short": f"# {title}\n\nEverything is ready. See you there!\n",
        "invented facts": _invent(case.text),
        "invented: one date": _one_date(case.text),
        "off-topic": other.text,
    }


# --- the run ---------------------------------------------------------------------------------


def judge(case: Case, text: str) -> tuple[bool, list[str], float]:
    started = time.perf_counter()
    result = deliverables.gate(
        text, deliverable=case.deliverable, facts=case.facts, prompt=case.prompt
    )
    elapsed = time.perf_counter() - started
    return (not result.clean), result.reasons, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show-good", action="store_true", help="print findings on good drafts")
    parser.add_argument("--show-missed", action="store_true", help="print bad drafts not flagged")
    args = parser.parse_args()

    good = load_cases(DATA / "good")
    written_bad = load_cases(DATA / "bad")
    times: list[float] = []
    false_positives = []
    for case in good:
        flagged, reasons, elapsed = judge(case, case.text)
        times.append(elapsed)
        if flagged:
            false_positives.append((case.name, reasons))
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed = []
    for index, case in enumerate(good):
        other = good[(index + len(good) // 2) % len(good)]
        for kind, text in bad_outputs(case, other).items():
            flagged, reasons, elapsed = judge(case, text)
            times.append(elapsed)
            kinds[kind][0] += flagged
            kinds[kind][1] += 1
            if not flagged:
                missed.append((case.name, kind, text))
    for case in written_bad:
        flagged, reasons, elapsed = judge(case, case.text)
        times.append(elapsed)
        kinds["fluent invention (written)"][0] += flagged
        kinds["fluent invention (written)"][1] += 1
        if not flagged:
            missed.append((case.name, "fluent invention (written)", case.text))

    caught = sum(hit for hit, _ in kinds.values())
    total = sum(count for _, count in kinds.values())
    recall = caught / total if total else 0.0
    fp_rate = len(false_positives) / len(good) if good else 0.0
    print(f"{'bad output':34} {'flagged':>8} {'of':>4} {'recall':>7}")
    for kind, (hit, count) in kinds.items():
        print(f"{kind:34} {hit:8d} {count:4d} {hit / count:7.2f}")
    print(f"{'all bad outputs':34} {caught:8d} {total:4d} {recall:7.2f}")
    print()
    print(
        f"{'good references':34} {len(false_positives):8d} {len(good):4d} {fp_rate:7.2f}"
        "  (flagged = false positives)"
    )
    times.sort()
    print(
        f"gate time per draft: median {times[len(times) // 2] * 1000:.1f} ms, "
        f"max {times[-1] * 1000:.1f} ms over {len(times)} drafts"
    )
    if args.show_good or false_positives:
        for name, reasons in false_positives:
            print(f"  false positive {name}: {reasons}")
    if args.show_missed:
        for name, kind, text in missed:
            print(f"  missed {name} / {kind}:\n{text[:400]}\n")
    ok = recall >= TARGET_RECALL and fp_rate <= TARGET_FALSE_POSITIVES
    print(
        f"target recall >= {TARGET_RECALL} at <= {TARGET_FALSE_POSITIVES:.0%} false positives:",
        "met" if ok else "NOT met",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
