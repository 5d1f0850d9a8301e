"""The offline draft of a document: the type's outline filled from the project's facts and the
catalogue's standard content. Whatever only a person can supply becomes a visible
``TODO(owner): ...`` line; nothing is invented.
"""

from __future__ import annotations

import re
from datetime import date

from berrys.services.catalogue.contracts import (
    CURRENCY_SYMBOLS,
    Constraint,
    DeliverableType,
    ParticularKey,
    ProjectFacts,
    ScheduledTask,
    Section,
)

MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_MONTH_NAME = "|".join(MONTHS)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_DAY_PART = r"(?:morning|afternoon|evening|night|lunchtime)"
DATE_PHRASE = re.compile(
    rf"\b(?:(?:{_WEEKDAY}),?\s+)?(?:{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
    rf"|{_MONTH}\s+{_DAY}(?:,?\s+\d{{4}})?|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})\b"
    # one day ("on Saturday morning", not "on Friday" of "on Friday 13 March"); "on
    # Saturdays" and "every Saturday" are how often
    rf"|\b(?:on|this|next)\s+{_WEEKDAY}(?!,?\s+{_DAY}\b)(?:\s+{_DAY_PART})?"
    rf"(?!\w|\s+{_DAY_PART}s)"
    # a month or season named as when ("in May", "early next spring"), not the verb "may"
    rf"|\b(?:in|during|by|until|from|starting|this|next|early|late|mid)[\s-]+"
    rf"(?:(?:next|early|late|mid)[\s-]+)?"
    rf"(?:{_MONTH_NAME}|spring|summer|autumn|fall|winter)(?:\s+\d{{4}})?\b",
    re.IGNORECASE,
)


def fmt_date(value: date) -> str:
    """Monday 7 December 2026."""
    return f"{value:%A} {value.day} {value:%B %Y}"


def fmt_number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


_SUFFIXES = ("ing", "ed", "es", "s", "e", "al")


def stem(word: str) -> str:
    """A word without one common ending (approved, approves, approval: approv)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def contains_term(text: str, term: str) -> bool:
    """``term`` in ``text``, ignoring case, punctuation, hyphens (first-aid = first aid) and
    common endings (approved = approves)."""
    want = [stem(w) for w in _norm(term).split()]
    if not want:
        return False
    have = [stem(w) for w in _norm(text).split()]
    size = len(want)
    return any(have[i : i + size] == want for i in range(len(have) - size + 1))


class Todos:
    """The TODOs of a draft, each recorded once: the same need in a later section points
    back to the first one instead of counting twice."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._first: dict[str, str] = {}

    def add(self, owner: str, text: str, *, where: str = "") -> str:
        """The line to write: ``TODO(owner): text``, or a pointer to where it was asked."""
        text = text.rstrip(".")
        key = _norm(text)
        if key in self._first:
            earlier = self._first[key]
            return f"{text}: see the TODO under {earlier}" if earlier else f"{text}: see above"
        line = f"TODO({owner}): {text}"
        self._first[key] = f"“{where}”" if where else ""
        self.items.append(line)
        return line

    def __len__(self) -> int:
        return len(self.items)


def provenance(source: str, todos: int, *, how: str = "Offline draft") -> str:
    """``Offline draft from the Event catalogue; 4 TODOs for a person``."""
    origin = source.strip() or "Berrys"
    if not origin.lower().endswith("catalogue"):
        origin = f"{origin} catalogue"
    if not origin.lower().startswith("the "):
        origin = f"the {origin}"
    left = plural(todos, "TODO") + " for a person" if todos else "nothing left for a person"
    return f"{how} from {origin}; {left}"


def _words(text: str) -> str:
    """``text`` lower-cased with punctuation dropped, for comparing wordings."""
    return " ".join(re.findall(r"[\w'€£$%]+", text.lower()))


def description_dates(text: str) -> list[str]:
    """Date phrases the description states, verbatim (``14 June``, ``on Saturday``)."""
    found: list[str] = []
    for match in DATE_PHRASE.finditer(text):
        phrase = match.group(0).strip(" ,")
        if phrase.lower() not in (f.lower() for f in found):
            found.append(phrase)
    return found


def _quote(constraint: Constraint) -> str:
    return f" (“{constraint.text.strip()}”)" if constraint.text.strip() else ""


def amount(constraint: Constraint) -> str:
    unit = CURRENCY_SYMBOLS.get(constraint.unit.strip(), constraint.unit.strip())
    number = fmt_number(constraint.value)
    if unit and len(unit) == 1 and not unit.isalnum():
        return f"{unit}{number}"
    return f"{number} {unit}".strip()


def _sentence(text: str, limit: int = 600) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return (cut[: end + 1] if end > limit // 2 else cut.rsplit(" ", 1)[0]) + " …"


class FactWriter:
    """Renders the project's facts as Markdown lines; a fact the project lacks becomes a
    TODO where a person can supply it."""

    def __init__(self, facts: ProjectFacts, todos: Todos, deliverable: str = "") -> None:
        self.facts = facts
        self.todos = todos
        self.deliverable = deliverable
        self.written: set[str] = set()

    def lines(self, fact: str, section: Section) -> list[str]:
        render = getattr(self, f"_{fact}", None)
        return render(section) if render is not None else []

    def _todo(self, section: Section, text: str, *, unless_unasked: str = "") -> list[str]:
        """A TODO for a missing fact; with ``unless_unasked`` (a fact name) only when the
        section's words ask for it (a bakery's announcement needs no headcount)."""
        if unless_unasked and not asks_for(section, unless_unasked):
            return []
        return [f"- {self.todos.add(section.owner, text, where=section.heading)}"]

    def _title(self, section: Section) -> list[str]:
        return [f"- Project: {self.facts.title}"]

    def _description(self, section: Section) -> list[str]:
        text = self.facts.description.strip()
        return [f"- As described: “{_sentence(text)}”"] if text else []

    def _project_types(self, section: Section) -> list[str]:
        kinds = self.facts.project_types
        return [f"- Kind of project: {', '.join(kinds)}"] if kinds else []

    def _people(self, section: Section) -> list[str]:
        found = self.facts.constraint("people")
        if found is None:
            return self._todo(section, "Expected headcount", unless_unasked="people")
        return [f"- Expected headcount: {fmt_number(found.value)}{_quote(found)}"]

    def _place(self, section: Section) -> list[str]:
        return self._particular("place", "Where, as described")

    def _length(self, section: Section) -> list[str]:
        return self._particular("length", "How long, as described")

    def _company(self, section: Section) -> list[str]:
        return self._particular("company", "Who comes along, as described")

    def _frequency(self, section: Section) -> list[str]:
        return self._particular("frequency", "How often, as described")

    def _particular(self, key: ParticularKey, label: str) -> list[str]:
        value = getattr(self.facts.particulars, key)
        return [f"- {label}: {value}"] if value else []

    def _days(self, section: Section) -> list[str]:
        found = self.facts.constraint("days")
        if found is None:
            return []
        return [f"- Length: {plural(int(found.value), 'day')}{_quote(found)}"]

    def _languages(self, section: Section) -> list[str]:
        return self._count("languages")

    def _sessions(self, section: Section) -> list[str]:
        return self._count("sessions")

    def _episodes(self, section: Section) -> list[str]:
        return self._count("episodes")

    def _count(self, dimension: str) -> list[str]:
        """How many of something the description gives (languages, sessions, episodes)."""
        found = self.facts.constraint(dimension)
        if found is None:
            return []
        return [f"- {dimension.capitalize()}: {fmt_number(found.value)}{_quote(found)}"]

    def _budget(self, section: Section) -> list[str]:
        found = self.facts.constraint("budget")
        if found is None:
            return self._todo(
                section, "The budget, and who approves spending", unless_unasked="budget"
            )
        return [f"- Budget: {amount(found)}{_quote(found)}"]

    def _dates(self, section: Section) -> list[str]:
        stated = self._stated_dates()
        lines = [f"- Date in the description: “{phrase}”" for phrase in stated]
        if stated:
            return lines
        start, finish = self._window()
        if start and finish and {"schedule", "milestones"} & set(section.facts):
            lines.append(
                f"- The plan schedules the work from {fmt_date(start)} to {fmt_date(finish)}"
            )
        if not any("date" in t.lower() for t in section.todos):
            lines += self._todo(section, "The date, and a fallback date", unless_unasked="dates")
        return lines

    def _stated_dates(self) -> list[str]:
        return description_dates(self.facts.description)

    def _window(self) -> tuple[date | None, date | None]:
        starts = [t.start for t in self.facts.schedule if t.start] + [self.facts.start]
        finishes = [t.finish for t in self.facts.schedule if t.finish] + [self.facts.finish]
        start = min((d for d in starts if d), default=None)
        finish = max((d for d in finishes if d), default=None)
        return start, finish

    def _team(self, section: Section) -> list[str]:
        if not self.facts.team:
            return self._todo(section, "Who is on the team and who decides")
        # The team is Berrys' agents, not people: say so, so nobody calls them on the day.
        return [
            f"- {member.name} (Berrys agent)"
            if member.name.lower() == member.role.lower()
            else f"- {member.name} (Berrys agent: {member.role})"
            for member in self.facts.team
        ]

    def _requirements(self, section: Section) -> list[str]:
        return self._requirement_lines(stated_only=False)

    def _stated_requirements(self, section: Section) -> list[str]:
        return self._requirement_lines(stated_only=True)

    def _requirement_lines(self, *, stated_only: bool) -> list[str]:
        lines = []
        opening = _words(self.facts.description)
        for item in self.facts.requirements:
            if stated_only and item.source != "stated":
                continue
            if item.source == "stated" and opening.startswith(_words(item.text) or "\0"):
                continue  # the project's goal in the person's words: a title, not a requirement
            priority = str(getattr(item.priority, "value", item.priority)).lower()
            origin = "stated" if item.source == "stated" else "implied by the kind of project"
            lines.append(f"- {item.text.rstrip('.')} ({priority}, {origin})")
        return lines

    def _constraints(self, section: Section) -> list[str]:
        return [
            f"- {c.dimension.replace('_', ' ').capitalize()}: {amount(c)}{_quote(c)}"
            for c in self.facts.constraints
        ]

    def _schedule(self, section: Section) -> list[str]:
        rows = [t for t in self.facts.schedule if t.start or t.finish]
        if not rows:
            return self._todo(section, "The dates of the plan's tasks (the plan has no schedule)")
        if not self._whole_plan(section):
            return self._own_dates(rows)
        lines = ["", "| Task | Who | Start | Finish | Critical path |", "|---|---|---|---|---|"]
        for task in sorted(rows, key=lambda t: (t.start or date.max, t.name)):
            start = fmt_date(task.start) if task.start else ""
            finish = fmt_date(task.finish) if task.finish else ""
            critical = "yes" if task.critical else ""
            lines.append(f"| {task.name} | {task.agent or ''} | {start} | {finish} | {critical} |")
        return [*lines, ""]

    def _whole_plan(self, section: Section) -> bool:
        """The whole schedule belongs in a timeline, a plan or a status report; elsewhere
        (an announcement's timing) only this deliverable's own dates do."""
        heading = section.heading.lower()
        return any(word in heading for word in WHOLE_PLAN_HEADINGS) or any(
            word in self.deliverable for word in WHOLE_PLAN_DELIVERABLES
        )

    def _own_dates(self, rows: list[ScheduledTask]) -> list[str]:
        lines = []
        for task in rows:
            if task.deliverable == self.deliverable and task.start and task.finish:
                when = fmt_date(task.start)
                if task.finish != task.start:
                    when += f" to {fmt_date(task.finish)}"
                lines.append(f"- In the plan: {task.name}, {when}")
        start, finish = self._window()
        if start and finish:
            lines.append(f"- The plan's work runs from {fmt_date(start)} to {fmt_date(finish)}")
        return lines

    def _milestones(self, section: Section) -> list[str]:
        if "schedule" in section.facts and any(t.start or t.finish for t in self.facts.schedule):
            return []  # the schedule's table already has every date
        dated = [(t.finish, t) for t in self.facts.schedule if t.finish is not None]
        chosen = [(finish, t) for finish, t in dated if t.critical] or dated
        if not chosen:
            return [] if "schedule" in section.facts else self._schedule(section)
        return [
            f"- Milestone: {task.name}, done by {fmt_date(finish)}"
            for finish, task in sorted(chosen, key=lambda pair: (pair[0], pair[1].name))
        ]

    def _risks(self, section: Section) -> list[str]:
        if not self.facts.risks:
            if section.standard:
                return []
            return self._todo(section, "The risks that could stop or spoil it, and what is done")
        lines = []
        for risk in self.facts.risks:
            level = str(getattr(risk.level, "value", risk.level)).lower()
            lines.append(f"- {risk.risk.rstrip('.')} ({level}): {risk.mitigation.rstrip('.')}")
        return lines

    def _entities(self, section: Section) -> list[str]:
        if not self.facts.entities:
            return self._todo(section, "The things the project keeps records of")
        return [f"- Keeps records of: {', '.join(self.facts.entities)}"]

    def _upstream(self, section: Section) -> list[str]:
        return [f"- Builds on: {name}" for name in sorted(self.facts.upstream)]


WHOLE_PLAN_HEADINGS = ("schedule", "milestone", "timeline", "progress", "plan", "phase")
WHOLE_PLAN_DELIVERABLES = ("timeline", "plan", "status", "schedule", "work_package")

ASKS = {
    "people": ("people", "headcount", "attendee", "capacity", "guest", "participant", "visitor"),
    "budget": ("budget", "cost", "money", "price", "spend", "fund"),
    "dates": ("date", "when", "deadline", "day", "schedule", "milestone"),
}


def asks_for(section: Section, fact: str) -> bool:
    """The section's own words ask for this fact (its heading, guidance or required terms)."""
    words = " ".join([section.heading, section.guidance, *section.must_contain]).lower()
    return any(stem in words for stem in ASKS.get(fact, (fact,)))


def is_checklist(deliverable: DeliverableType) -> bool:
    """Standard lines as boxes to tick: a checklist's, and a scaffold's (not done yet)."""
    return (
        deliverable.format == "code"
        or "checklist" in f"{deliverable.key} {deliverable.title}".lower()
    )


def section_lines(
    section: Section,
    writer: FactWriter,
    todos: Todos,
    *,
    checklist: bool,
    first: list[str] | None = None,
) -> list[str]:
    """One section's body: ``first`` (what was generated for it), facts, standard content,
    TODOs (never empty)."""
    lines: list[str] = [*(first or [])]
    if first:
        lines.append("")
    for fact in section.facts:
        for line in writer.lines(fact, section):
            if line.startswith("- ") and line in writer.written:
                continue  # one fact stated once per document
            writer.written.add(line)
            lines.append(line)
    stated, unstated = _stated_particulars(section, writer)
    lines += stated
    bullet = "- [ ] " if checklist else "- "
    lines += [f"{bullet}{item}" for item in section.standard]
    asks = [*section.todos, *unstated]
    lines += [f"- {todos.add(section.owner, item, where=section.heading)}" for item in asks]
    body = "\n".join([section.heading, *lines])
    for term in section.must_contain:
        if not contains_term(body, term):
            # the guidance says what is missing in words a person reads ("how it serves the
            # project's goal"), where it names the term
            ask = section.guidance if contains_term(section.guidance, term) else f"The {term}"
            lines.append(f"- {todos.add(section.owner, ask.rstrip('.'), where=section.heading)}")
    if not any(line.strip() for line in lines):
        lines.append(f"- {todos.add(section.owner, section.guidance, where=section.heading)}")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _stated_particulars(section: Section, writer: FactWriter) -> tuple[list[str], list[str]]:
    """The section's particulars the description states, as lines, and the TODOs of those it
    does not."""
    lines: list[str] = []
    unstated: list[str] = []
    for key, items in section.todos_unless_known.items():
        if not getattr(writer.facts.particulars, key):
            unstated += items
            continue
        stated = [line for line in writer.lines(key, section) if line not in writer.written]
        writer.written.update(stated)
        lines += stated
    return lines, unstated


def document_title(deliverable: DeliverableType, facts: ProjectFacts) -> str:
    if facts.title and _norm(facts.title) not in _norm(deliverable.title):
        return f"{deliverable.title}: {facts.title}"
    return deliverable.title


def markdown_body(
    deliverable: DeliverableType,
    facts: ProjectFacts,
    todos: Todos,
    *,
    level: int = 2,
    generated: dict[tuple[str, ...], tuple[str, list[str]]] | None = None,
) -> list[str]:
    """The outline's sections as Markdown, filled from the facts. ``generated`` maps heading
    words to (a heading, lines) made for the deliverable (a scaffold's routes): they open
    the first section whose heading has one of the words, or follow as their own section."""
    writer = FactWriter(facts, todos, deliverable.key)
    checklist = is_checklist(deliverable)
    placed: set[tuple[str, ...]] = set()
    lines: list[str] = []
    for section in deliverable.sections:
        first: list[str] = []
        for words, (_, extra) in (generated or {}).items():
            if words not in placed and any(w in section.heading.lower() for w in words):
                placed.add(words)
                first += extra
        lines += ["", f"{'#' * level} {section.heading}", ""]
        lines += section_lines(section, writer, todos, checklist=checklist, first=first)
    for words, (heading, extra) in (generated or {}).items():
        if words not in placed:
            lines += ["", f"{'#' * level} {heading}", "", *extra]
    return lines


def markdown_lines(
    deliverable: DeliverableType,
    facts: ProjectFacts,
    todos: Todos,
    *,
    generated: dict[tuple[str, ...], tuple[str, list[str]]] | None = None,
) -> list[str]:
    """A Markdown deliverable without its provenance line: title, summary, sections."""
    body = [f"# {document_title(deliverable, facts)}", "", deliverable.summary]
    return body + markdown_body(deliverable, facts, todos, generated=generated)


def with_provenance(line: str, body: list[str]) -> str:
    """The document: its provenance line first, then the body (no runs of blank lines)."""
    lines: list[str] = [f"> {line}", ""]
    for item in body:
        if item.strip() or lines[-1].strip():
            lines.append(item)
    return "\n".join(lines).rstrip() + "\n"
