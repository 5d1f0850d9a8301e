"""Offline drafts in every format and the type's machine checks: what the project's facts
give is filled in, what only a person can supply is a visible TODO, and every file says how
it was made."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from datetime import date

import pytest
from openpyxl import load_workbook
from tests.services.deliverables.conftest import (
    calendar_type,
    code_type,
    model_type,
    shipped,
)

from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue._catalogue import SHIPPED
from berrys.services.catalogue.contracts import (
    Column,
    Constraint,
    DeliverableType,
    ProjectFacts,
    Requirement,
)
from berrys.services.deliverables import service as deliverables
from berrys.services.deliverables._formats import parse_ics
from berrys.services.deliverables.contracts import DraftFile


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_a_markdown_draft_is_the_outline_filled_from_the_facts(facts):
    venue = shipped("venue_brief")
    draft = deliverables.draft_offline(venue, facts, source="Event")
    text = draft.primary.text
    assert draft.primary.name == "venue-brief.md"
    first = text.splitlines()[0]
    assert (
        first == f"> Offline draft from the Event catalogue; {len(draft.todos)} TODOs for a person"
    )
    assert draft.provenance in first
    assert "# Venue brief and booking checklist: Neighbourhood bakery website launch" in text
    for section in venue.sections:
        assert f"## {section.heading}" in text
    # Facts: the title, the stated date, the budget; the catalogue's standard content.
    assert "- Date in the description: “14 March 2027”" in text
    assert "- Budget: £400 (“a £400 budget”)" in text
    assert "Public liability insurance" in text
    # What only a person knows is a TODO with its owner, counted once.
    assert "- TODO(organiser): Preferred date and a fallback date" in text
    assert "TODO(organiser): Expected headcount" in text  # the brief asks for headcount
    assert len(draft.todos) == text.count("TODO(") == len(set(draft.todos))
    # Nothing repeated, nothing unmarked.
    assert len(_lines(text)) == len(set(_lines(text)))
    assert deliverables.check(venue, draft, facts=facts) == []


def test_every_deliverable_type_in_the_catalogue_passes_its_checks_offline(facts, library):
    keys = sorted(path.stem for path in (SHIPPED / "deliverables").glob("*.yaml"))
    assert len(keys) >= 20
    for key in keys:
        deliverable = shipped(key)
        for project in (facts, library):
            draft = deliverables.draft_offline(deliverable, project, source="Berrys")
            found = deliverables.check(deliverable, draft, facts=project)
            assert found == [], (key, [f.message for f in found])
            assert draft.todo_count == len(draft.todos)
            for file in draft.files:
                lines = _lines(file.text or "")
                if file.name.endswith(".md"):
                    assert len(lines) == len(set(lines)), (key, file.name)


def test_a_missing_section_an_unmarked_placeholder_and_a_lost_term_are_found(facts):
    venue = shipped("venue_brief")
    draft = deliverables.draft_offline(venue, facts, source="Event")
    text = draft.primary.text
    broken = re.sub("first aid", "medical", text.replace("## Shortlist", "## Other"), flags=re.I)
    broken += "\nThe caterer is TBD and the hall is [insert venue].\n"
    broken_draft = draft.model_copy(
        update={"files": [draft.primary.model_copy(update={"text": broken})]}
    )
    messages = [f.message for f in deliverables.check(venue, broken_draft)]
    assert "Missing sections: Shortlist" in messages
    assert any("does not mention “first aid”" in m for m in messages)
    assert any("TBD" in m and "[insert venue]" in m for m in messages)


def test_a_csv_table_marks_what_a_person_fills_and_its_totals_add_up(facts):
    budget = shipped("budget")
    draft = deliverables.draft_offline(budget, facts, source="Event")
    table, readme = draft.files
    assert (table.name, table.media_type) == ("budget.csv", "text/csv")
    rows = list(csv.reader(io.StringIO(table.text)))
    assert rows[0] == [c.name for c in budget.columns]
    assert rows[-1][0] == "Total"
    # A cell the catalogue leaves for a person says TODO; the others keep the catalogue's.
    quantity = [c.name for c in budget.columns].index("Quantity")
    given = [row[quantity] if quantity < len(row) else "" for row in budget.rows]
    for row, cell in zip(rows[1:-1], given, strict=True):
        assert row[quantity] == (cell if cell not in ("", "TODO") else "TODO")
    to_fill = sum(1 for cell in given if cell in ("", "TODO"))
    assert readme.name == "budget.README.md"
    assert readme.text.startswith(f"> {draft.provenance}\n")
    assert "Budget given in the description: £400" in readme.text
    assert f"TODO(project owner): Quantity: {to_fill} rows to fill in" in readme.text
    assert deliverables.check(budget, draft) == []

    # Filled rows: the Total row is the sum of quantity x unit cost.
    filled = budget.model_copy(
        update={"rows": [["Flyers", "Print", "200", "0.15"], ["Hosting", "Tools", "12", "7.5"]]}
    )
    draft = deliverables.draft_offline(filled, facts, source="Event")
    rows = list(csv.reader(io.StringIO(draft.primary.text)))
    assert [row[4] for row in rows[1:]] == ["30", "90", "120"]
    assert deliverables.check(filled, draft) == []
    wrong = draft.primary.text.replace("Total,,,,120", "Total,,,,150")
    tampered = draft.model_copy(
        update={
            "files": [
                DraftFile(name="budget.csv", media_type="text/csv", text=wrong),
                *draft.files[1:],
            ]
        }
    )
    assert any(f.check == "totals" for f in deliverables.check(filled, tampered))


def test_an_xlsx_model_has_real_formulas_an_about_sheet_and_marked_cells(facts):
    model = model_type()
    draft = deliverables.draft_offline(model, facts, source="Online shop")
    assert draft.primary.name == "financial-model.xlsx"
    book = load_workbook(io.BytesIO(draft.primary.data))
    assert book.sheetnames == ["About", "Financial model"]
    assert book["About"]["A1"].value == draft.provenance
    assert book.active.title == "Financial model"
    sheet = book["Financial model"]
    assert [c.value for c in sheet[1]] == [c.name for c in model.columns]
    assert [sheet.cell(row=r, column=5).value for r in (2, 3, 4)] == ["=C2*D2", "=C3*D3", "=C4*D4"]
    assert sheet["A5"].value == "Total"
    assert sheet["E5"].value == "=SUM(E2:E4)"
    assert sheet["C2"].value is None
    assert "TODO(project owner)" in sheet["C2"].comment.text
    assert sheet["C4"].value == 12.5
    assert "TODO(project owner): Per month: 2 rows to fill in" in draft.preview
    assert deliverables.check(model, draft) == []
    # The same bytes every time (a replay writes the same file).
    again = deliverables.draft_offline(model, facts, source="Online shop")
    assert again.primary.data == draft.primary.data


def test_an_ics_calendar_has_the_plans_events_and_parses(facts):
    draft = deliverables.draft_offline(calendar_type(), facts, source="Event")
    calendar = draft.primary
    assert (calendar.name, calendar.media_type) == ("launch-calendar.ics", "text/calendar")
    events, problems = parse_ics(calendar.text)
    assert problems == []
    assert [(e["SUMMARY"], e["DTSTART"], e["DTEND"]) for e in events] == [
        ("Write the launch checklist", "20261207", "20261209"),
        ("Write the announcement", "20261209", "20261211"),
    ]
    assert all(len(line.encode()) <= 75 for line in calendar.text.split("\r\n"))
    assert "X-WR-CALDESC:Offline draft from the Event catalogue\\; nothing left" in calendar.text
    assert deliverables.check(calendar_type(), draft, facts=facts) == []
    # A calendar that lost an event is caught against the plan's schedule.
    fewer = facts.model_copy(update={"schedule": facts.schedule[:1]})
    short = deliverables.draft_offline(calendar_type(), fewer, source="Event")
    assert any(
        "Write the announcement" in f.message
        for f in deliverables.check(calendar_type(), short, facts=facts)
    )


def test_a_timeline_has_a_calendar_beside_it_or_a_todo_when_there_is_no_schedule(facts):
    timeline = shipped("timeline")
    draft = deliverables.draft_offline(timeline, facts, source="Event")
    assert [f.name for f in draft.files] == ["timeline.md", "timeline.ics"]
    assert "| Write the launch checklist | Launch Coordinator | Monday 7 December 2026" in (
        draft.primary.text
    )
    events, _ = parse_ics(draft.files[1].text)
    assert len(events) == 2
    unscheduled = facts.model_copy(update={"schedule": [], "start": None, "finish": None})
    draft = deliverables.draft_offline(timeline, unscheduled, source="Event")
    assert any("the plan has no schedule" in todo for todo in draft.todos)
    assert parse_ics(draft.files[1].text) == ([], [])


def test_a_code_scaffold_runs_and_its_generated_tests_pass(library, tmp_path):
    scaffold = code_type()
    draft = deliverables.draft_offline(scaffold, library, source="Web app")
    names = sorted(f.name for f in draft.files)
    assert names == [
        "code-scaffold/README.md",
        "code-scaffold/app.py",
        "code-scaffold/conftest.py",
        "code-scaffold/models.py",
        "code-scaffold/requirements.txt",
        "code-scaffold/tests/test_app.py",
    ]
    app = next(f.text for f in draft.files if f.name.endswith("app.py"))
    assert '"/api/book-loans": BookLoan' in app
    assert '"/api/members": Member' in app
    for file in draft.files:
        assert file.text.splitlines()[0] in (f"# {draft.provenance}", f"> {draft.provenance}")
    assert "TODO(developer): The fields each record keeps besides its name" in draft.preview
    assert deliverables.check(scaffold, draft) == []
    deliverables.write(draft, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=tmp_path / "code-scaffold",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b7 passed\b", result.stdout), result.stdout  # health + 3 per kind


def test_a_fastapi_scaffold_when_the_deliverable_asks_for_fastapi(library, tmp_path):
    pytest.importorskip("fastapi")
    scaffold = code_type(summary="A FastAPI service with its tests.")
    draft = deliverables.draft_offline(scaffold, library, source="Web app")
    assert "from fastapi import" in next(f.text for f in draft.files if f.name.endswith("app.py"))
    deliverables.write(draft, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=tmp_path / "code-scaffold",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_scaffold_without_named_records_says_so(tmp_path):
    facts = ProjectFacts(title="Internal tool", description="A small internal web tool")
    draft = deliverables.draft_offline(code_type(), facts, source="Internal tool")
    assert "TODO(developer): The things the project keeps records of" in draft.todos
    assert "a placeholder: the description names no records" in draft.preview
    assert deliverables.check(code_type(), draft) == []
    without = code_type().model_copy(
        update={"sections": [s.model_copy(update={"facts": []}) for s in code_type().sections]}
    )
    draft = deliverables.draft_offline(without, facts, source="Internal tool")
    assert any("the description names none" in todo for todo in draft.todos)


def test_a_broken_scaffold_is_caught():
    draft = deliverables.draft_offline(
        code_type(), ProjectFacts(title="x", description="tracks orders"), source="Web app"
    )
    kept = [f for f in draft.files if not f.name.endswith("models.py")]
    broken = draft.model_copy(update={"files": kept})
    assert any("models.py" in f.message for f in deliverables.check(code_type(), broken))


def test_writing_a_draft_stays_in_its_folder(facts, tmp_path):
    draft = deliverables.draft_offline(shipped("budget"), facts, source="Event")
    paths = deliverables.write(draft, tmp_path)
    assert [p.name for p in paths] == ["budget.csv", "budget.README.md"]
    escaping = draft.model_copy(
        update={"files": [DraftFile(name="../x.md", media_type="text/markdown", text="> x\n")]}
    )
    with pytest.raises(ValueError, match="outside"):
        deliverables.write(escaping, tmp_path)


def test_missing_facts_are_todos_only_where_the_section_asks_for_them():
    bare = ProjectFacts(title="Bakery website", description="A website for a bakery")
    announcement = shipped("announcement")
    text = deliverables.draft_offline(announcement, bare, source="Marketing").primary.text
    assert "Expected number of people" not in text  # an announcement asks for no headcount
    event = DeliverableType(
        key="headcount",
        version=1,
        title="Headcount",
        format="csv",
        summary="Who comes.",
        columns=[Column(name="Session"), Column(name="Hours", kind="hours")],
        rows=[["Morning", "3"], ["Afternoon", "2.5"]],
        acceptance=["Hours add up"],
    )
    rows = list(
        csv.reader(
            io.StringIO(deliverables.draft_offline(event, bare, source="Event").primary.text)
        )
    )
    assert rows[-1] == ["Total", "5.5"]
    assert date(2026, 1, 1)  # the fixed stamp of reproducible files is a real date


def test_the_description_s_own_goal_is_not_listed_back_as_a_requirement(facts):
    goal = Requirement(
        text="Write a launch plan and announcement for a neighbourhood bakery's new website",
        category="FUNCTIONAL",
        priority="HIGH",
        source="stated",
    )
    echoed = facts.model_copy(update={"requirements": [goal, *facts.requirements]})
    text = deliverables.draft_offline(shipped("venue_brief"), echoed, source="Event").primary.text
    assert "Write a launch plan and announcement" not in text  # the person's words, not news
    assert "The announcement names the bakery and the launch date (high, stated)" in text


@pytest.mark.parametrize(
    ("description", "stated"),
    [
        ("A week in Rome in May for my parents", "in May"),
        ("A summer fete early next summer on the green", "early next summer"),
        ("The launch in mid-July 2027, with a party", "in mid-July 2027"),
        ("We may need a bigger venue", None),  # the verb, not the month
        ("A quiz night on Friday 13 March at the pub", "Friday 13 March"),  # one date
    ],
)
def test_a_month_or_season_the_description_names_is_its_date(facts, description, stated):
    dated = facts.model_copy(update={"description": description})
    text = deliverables.draft_offline(shipped("venue_brief"), dated, source="Event").primary.text
    if stated is None:
        assert "Date in the description" not in text
    else:
        assert f"- Date in the description: “{stated}”" in text


def test_what_the_description_states_is_quoted_and_only_the_rest_is_asked(facts):
    trip = "Plan a 4-night family trip to Lisbon in April for two adults and a toddler"
    described = facts.model_copy(
        update={"description": trip, "particulars": catalogue.particulars(trip)}
    )
    brief = shipped("travel_brief")
    text = deliverables.draft_offline(brief, described, source="Travel").primary.text
    assert "- Where, as described: Lisbon" in text
    assert "- How long, as described: 4 nights" in text
    assert "- Who comes along, as described: two adults and a toddler" in text
    assert "Number of nights" not in text
    assert "The destination or the shortlist" not in text
    assert "TODO(trip organiser): How you would like to get there" in text
    priced = described.model_copy(
        update={"constraints": [Constraint(dimension="budget", value=6000, unit="GBP", text="£6k")]}
    )
    text = deliverables.draft_offline(brief, priced, source="Travel").primary.text
    assert "- Budget: £6,000 (“£6k”)" in text
    vague = facts.model_copy(update={"description": "A family holiday somewhere warm"})
    text = deliverables.draft_offline(brief, vague, source="Travel").primary.text
    assert "TODO(trip organiser): Number of nights" in text
    assert "TODO(trip organiser): The destination or the shortlist" in text
    assert ", as described:" not in text
