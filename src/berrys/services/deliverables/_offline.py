"""The offline draft in each format: Markdown documents, CSV tables with a README, ``.xlsx``
workbooks with formulas and an About sheet, ``.ics`` calendars and code scaffolds. Every
file says first how it was made and how many TODOs it leaves for a person."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

from berrys.services.catalogue.contracts import DeliverableType, ProjectFacts
from berrys.services.deliverables import _scaffold
from berrys.services.deliverables._drafting import (
    Todos,
    amount,
    document_title,
    markdown_body,
    markdown_lines,
    provenance,
    with_provenance,
)
from berrys.services.deliverables._formats import (
    FIXED_TIME,
    CalendarEvent,
    add_table_todos,
    csv_rows,
    csv_text,
    events_markdown,
    ics_text,
    markdown_table,
    schedule_events,
    table_of,
    xlsx_bytes,
)
from berrys.services.deliverables.contracts import Draft, DraftFile

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MARKDOWN = "text/markdown"


def default_stem(deliverable: DeliverableType) -> str:
    return deliverable.key.replace("_", "-")


def _owner(deliverable: DeliverableType) -> str:
    return deliverable.sections[0].owner if deliverable.sections else "project owner"


def _acceptance(deliverable: DeliverableType) -> list[str]:
    return ["", "## Before it is final", "", *[f"- [ ] {item}" for item in deliverable.acceptance]]


def _calendar_stamp(facts: ProjectFacts, events: list[CalendarEvent]) -> date:
    if facts.start is not None:
        return facts.start
    return events[0].start if events else FIXED_TIME.date()


def calendar_file(
    deliverable: DeliverableType, facts: ProjectFacts, stem: str, line: str
) -> DraftFile:
    """The plan's schedule as an ``.ics`` calendar; its description says how it was made."""
    events = schedule_events(facts)
    text = ics_text(
        name=document_title(deliverable, facts),
        description=f"{line}. Events are the plan's scheduled tasks.",
        events=events,
        stamp=_calendar_stamp(facts, events),
    )
    return DraftFile(name=f"{stem}.ics", media_type="text/calendar", text=text)


def schedule_csv_file(facts: ProjectFacts, stem: str) -> DraftFile:
    rows = [["Task", "Who", "Start", "Finish", "Critical path"]]
    for task in sorted(facts.schedule, key=lambda t: (t.start or date.max, t.name)):
        rows.append(
            [
                task.name,
                task.agent or "",
                task.start.isoformat() if task.start else "TODO",
                task.finish.isoformat() if task.finish else "TODO",
                "yes" if task.critical else "no",
            ]
        )
    return DraftFile(name=f"{stem}.csv", media_type="text/csv", text=csv_text(rows))


def companions(
    deliverable: DeliverableType, facts: ProjectFacts, stem: str, line: str
) -> list[DraftFile]:
    files = []
    if "ics" in deliverable.companions:
        files.append(calendar_file(deliverable, facts, stem, line))
    if "csv" in deliverable.companions:
        files.append(schedule_csv_file(facts, stem))
    return files


def companion_todos(deliverable: DeliverableType, facts: ProjectFacts, todos: Todos) -> None:
    if deliverable.companions and not schedule_events(facts):
        todos.add(
            _owner(deliverable),
            "The dates of the work: the plan has no schedule yet, so the calendar is empty",
        )


def feedback_lines(todos: Todos, feedback: list[str], owner: str) -> list[str]:
    """A person's feedback on an earlier draft that no model was there to apply."""
    if not feedback:
        return []
    lines = ["", "## Feedback to apply", ""]
    lines += [f"- {todos.add(owner, f'Apply this feedback: {note}')}" for note in feedback]
    return lines


def _markdown(
    deliverable: DeliverableType, facts: ProjectFacts, source: str, stem: str, feedback: list[str]
) -> Draft:
    todos = Todos()
    body = markdown_lines(deliverable, facts, todos)
    companion_todos(deliverable, facts, todos)
    body += feedback_lines(todos, feedback, _owner(deliverable))
    line = provenance(source, len(todos))
    text = with_provenance(line, body)
    files = [DraftFile(name=f"{stem}.md", media_type=MARKDOWN, text=text)]
    files += companions(deliverable, facts, stem, line)
    return Draft(
        deliverable=deliverable.key,
        format=deliverable.format,
        files=files,
        preview=text,
        todos=todos.items,
        provenance=line,
    )


def _budget_line(deliverable: DeliverableType, facts: ProjectFacts) -> list[str]:
    found = facts.constraint("budget")
    if found is None or not any(c.kind in ("money", "formula") for c in deliverable.columns):
        return []
    return ["", f"Budget given in the description: {amount(found)} (“{found.text}”)."]


def _table_intro(deliverable: DeliverableType, summed: list[str], where: str) -> list[str]:
    lines = ["", f"{where} are for a person to fill in."]
    if summed:
        columns = " and ".join(summed)
        lines[-1] += (
            f" The Total row adds up the {columns} {'column' if len(summed) == 1 else 'columns'}"
            " for the rows filled in so far."
        )
    return lines


def _csv(
    deliverable: DeliverableType, facts: ProjectFacts, source: str, stem: str, feedback: list[str]
) -> Draft:
    todos = Todos()
    table = table_of(deliverable)
    body = [f"# {document_title(deliverable, facts)}", "", deliverable.summary]
    body += _table_intro(
        deliverable, [table.names[i] for i in table.summed], f"In `{stem}.csv`, cells that say TODO"
    )
    body += _budget_line(deliverable, facts)
    body += markdown_body(deliverable, facts, todos)
    before = len(todos)
    add_table_todos(table, todos, marker="marked TODO")
    rows = csv_rows(table)
    body += ["", "## To fill in", "", *[f"- {item}" for item in todos.items[before:]]]
    body += feedback_lines(todos, feedback, _owner(deliverable))
    body += _acceptance(deliverable)
    line = provenance(source, len(todos))
    readme = with_provenance(line, body)
    preview = readme + "\n## The table\n\n" + "\n".join(markdown_table(rows)) + "\n"
    files = [
        DraftFile(name=f"{stem}.csv", media_type="text/csv", text=csv_text(rows)),
        DraftFile(name=f"{stem}.README.md", media_type=MARKDOWN, text=readme),
    ]
    return Draft(
        deliverable=deliverable.key,
        format=deliverable.format,
        files=files,
        preview=preview,
        todos=todos.items,
        provenance=line,
    )


def _plain(lines: list[str]) -> list[str]:
    """Markdown lines as plain sheet rows."""
    out = []
    for line in lines:
        text = line.lstrip("#").strip() if line.startswith("#") else line
        out.append(text.replace("- [ ] ", "- "))
    return out


def _xlsx(
    deliverable: DeliverableType, facts: ProjectFacts, source: str, stem: str, feedback: list[str]
) -> Draft:
    todos = Todos()
    table = table_of(deliverable)
    title = document_title(deliverable, facts)
    sections = markdown_body(deliverable, facts, todos)
    before = len(todos)
    add_table_todos(table, todos, marker="highlighted, with a TODO note")
    intro = _table_intro(
        deliverable,
        [table.names[i] for i in table.summed],
        "Cells highlighted yellow (each with a TODO note)",
    )
    intro[-1] += " Formulas recalculate as they are filled."
    intro += _budget_line(deliverable, facts)
    fill = ["", "## To fill in", "", *[f"- {item}" for item in todos.items[before:]]]
    fill += feedback_lines(todos, feedback, _owner(deliverable))
    line = provenance(source, len(todos))
    about = [line, "", title, deliverable.summary, *intro, *_plain(sections), *_plain(fill)]
    about += _plain(_acceptance(deliverable))
    data, view = xlsx_bytes(table, title=deliverable.title, about=about)
    body = [f"# {title}", "", deliverable.summary, *intro, *sections, "", "## The sheet", ""]
    body += markdown_table(view) + fill + _acceptance(deliverable)
    return Draft(
        deliverable=deliverable.key,
        format=deliverable.format,
        files=[DraftFile(name=f"{stem}.xlsx", media_type=XLSX, data=data)],
        preview=with_provenance(line, body),
        todos=todos.items,
        provenance=line,
    )


def _ics(
    deliverable: DeliverableType, facts: ProjectFacts, source: str, stem: str, feedback: list[str]
) -> Draft:
    todos = Todos()
    events = schedule_events(facts)
    body = [f"# {document_title(deliverable, facts)}", "", deliverable.summary, ""]
    if events:
        body += [f"The calendar `{stem}.ics` has {len(events)} events from the plan's schedule:"]
        body += ["", *events_markdown(events)]
    body += markdown_body(deliverable, facts, todos)
    companion_todos(deliverable.model_copy(update={"companions": ["ics"]}), facts, todos)
    if not events:
        body += ["", f"- {todos.items[-1]}"]
    body += feedback_lines(todos, feedback, _owner(deliverable))
    line = provenance(source, len(todos))
    calendar = calendar_file(deliverable, facts, stem, line)
    return Draft(
        deliverable=deliverable.key,
        format=deliverable.format,
        files=[calendar],
        preview=with_provenance(line, body),
        todos=todos.items,
        provenance=line,
    )


def _code(
    deliverable: DeliverableType, facts: ProjectFacts, source: str, stem: str, feedback: list[str]
) -> Draft:
    todos = Todos()
    entities, placeholder = _scaffold.entities_of(facts)
    framework = _scaffold.framework_of(deliverable, facts)
    title = document_title(deliverable, facts)
    before = len(todos)
    if placeholder and not any("entities" in section.facts for section in deliverable.sections):
        todos.add(
            "developer",
            "The records the app keeps: the description names none, so the scaffold has one "
            "placeholder kind, Item",
        )
    stack = _scaffold.other_stack(facts.description)
    if stack is not None:
        own = "Flask" if framework == "flask" else "FastAPI"
        todos.add(
            "developer",
            f"The description names {stack}: this scaffold is {own}, a stand-in whose records, "
            f"routes and tests are to be ported to {stack}",
        )
    kinds = ", ".join(e.cls for e in entities)
    todos.add("developer", f"The fields each record keeps besides its name ({kinds})")
    todos.add("developer", "A database in place of the in-memory store, before real use")
    made = [f"- {item}" for item in todos.items[before:]]
    tests = [
        "- `tests/test_app.py` (generated, passing): the health route, and for each record "
        "kind create, list, read, rename and delete, a missing name refused, an unknown id 404",
    ]
    generated = {
        ("run", "start", "install", "setup", "set-up"): (
            "Run it",
            _scaffold.run_section(framework),
        ),
        ("model", "record", "entit", "data"): (
            "Records",
            _scaffold.records_section(entities, placeholder),
        ),
        ("route", "entry", "endpoint", "api"): ("Routes", _scaffold.routes_section(entities)),
        ("test",): ("Tests", tests),
        ("next", "to do", "todo", "left", "missing"): ("To do", made),
    }
    body = markdown_lines(deliverable, facts, todos, generated=generated)
    body += feedback_lines(todos, feedback, "developer")
    line = provenance(source, len(todos))
    readme = with_provenance(line, body)
    texts = {"README.md": (readme, MARKDOWN), **_code_files(line, title, entities, framework)}
    return Draft(
        deliverable=deliverable.key,
        format=deliverable.format,
        files=[
            DraftFile(name=f"{stem}/{name}", media_type=media, text=text)
            for name, (text, media) in texts.items()
        ],
        preview=readme,
        todos=todos.items,
        provenance=line,
    )


def _code_files(
    line: str, title: str, entities: list[_scaffold.Entity], framework: str
) -> dict[str, tuple[str, str]]:
    """The scaffold's files besides its README: name -> (text, media type)."""
    app = (
        _scaffold.flask_app_py(line, title, entities)
        if framework == "flask"
        else _scaffold.fastapi_app_py(line, title, entities)
    )
    return {
        "app.py": (app, "text/x-python"),
        "models.py": (_scaffold.models_py(line, entities), "text/x-python"),
        "tests/test_app.py": (_scaffold.tests_py(line, entities, framework), "text/x-python"),
        "conftest.py": (_scaffold.conftest_py(line), "text/x-python"),
        "requirements.txt": (_scaffold.requirements_txt(line, framework), "text/plain"),
    }


BUILDERS: dict[str, Callable[[DeliverableType, ProjectFacts, str, str, list[str]], Draft]] = {
    "markdown": _markdown,
    "csv": _csv,
    "xlsx": _xlsx,
    "ics": _ics,
    "code": _code,
}


def draft_offline(
    deliverable: DeliverableType,
    facts: ProjectFacts,
    *,
    source: str,
    stem: str | None = None,
    feedback: Iterable[str] = (),
) -> Draft:
    """The outline filled from the facts and the catalogue; the rest as TODOs (a person's
    feedback on an earlier draft among them)."""
    notes = [str(note).strip() for note in feedback if str(note).strip()]
    return BUILDERS[deliverable.format](
        deliverable, facts, source, stem or default_stem(deliverable), notes
    )
