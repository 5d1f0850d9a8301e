"""The machine checks of a deliverable type: what any draft of it, offline or a model's, must
pass before it can count as final."""

from __future__ import annotations

import csv
import io
import re

from berrys.services.catalogue.contracts import DeliverableType, ProjectFacts, Section
from berrys.services.deliverables._drafting import contains_term
from berrys.services.deliverables._formats import (
    NUMERIC,
    TOTAL,
    optional,
    parse_ics,
    parse_number,
    schedule_events,
    summed_columns,
)
from berrys.services.deliverables._scaffold import REQUIRED_FILES
from berrys.services.deliverables.contracts import Draft, DraftFile, Finding

PLACEHOLDER = re.compile(
    r"\[\s*insert[^\]]*\]|\bXX+\b|\bTBD\b|\blorem ipsum\b|\?\?\?|\{\{\s*\w+\s*\}\}"
    r"|<(?:name|date|time|venue|address|email|phone|link|url|price|amount|company|"
    r"organi[sz]ation|title|city|number)>",
)
_TBD = re.compile(r"\btbd\b|\blorem ipsum\b|\[\s*insert", re.IGNORECASE)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"a", "an", "and", "the", "of", "for", "to", "in", "on", "at", "or", "with", "what", "who"}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def heading_matches(outline: str, heading: str) -> bool:
    """A draft's heading stands for an outline heading: the same words, or most of them."""
    want, have = _words(outline), _words(heading)
    if not want:
        return False
    if want <= have:
        return True
    return len(want & have) / len(want) >= 0.6


def headings(text: str) -> list[tuple[int, int, str]]:
    """(line index, level, text) of each Markdown heading outside code blocks."""
    found = []
    fenced = False
    for index, line in enumerate(text.splitlines()):
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        match = _HEADING.match(line) if not fenced else None
        if match:
            found.append((index, len(match.group(1)), match.group(2)))
    return found


def _score(outline: str, heading: str) -> float:
    if _words(outline) == _words(heading):
        return 2.0
    return 1.0 if heading_matches(outline, heading) else 0.0


def section_bodies(text: str, sections: list[Section]) -> dict[str, str | None]:
    """Each outline section's heading and text in a Markdown draft (None: not found). An exact
    heading wins over a near one, and each draft heading stands for one section only."""
    lines = text.splitlines()
    found = [item for item in headings(text) if item[1] >= 2]
    every = headings(text)
    pairs = sorted(
        (
            (-_score(section.heading, item[2]), position, order)
            for order, section in enumerate(sections)
            for position, item in enumerate(found)
            if _score(section.heading, item[2]) > 0
        )
    )
    chosen: dict[int, int] = {}
    used: set[int] = set()
    for _, position, order in pairs:
        if order not in chosen and position not in used:
            chosen[order] = position
            used.add(position)
    bodies: dict[str, str | None] = {}
    for order, section in enumerate(sections):
        if order not in chosen:
            bodies[section.heading] = None
            continue
        index, level, heading = found[chosen[order]]
        end = len(lines)
        for later_index, later_level, _ in every:
            if later_index > index and later_level <= level:
                end = later_index
                break
        bodies[section.heading] = "\n".join([heading, *lines[index + 1 : end]])
    return bodies


def structure(text: str, deliverable: DeliverableType) -> list[Finding]:
    """Sections present and each one's required terms (Markdown)."""
    findings: list[Finding] = []
    bodies = section_bodies(text, deliverable.sections)
    missing = [heading for heading, body in bodies.items() if body is None]
    if missing:
        findings.append(
            Finding(check="sections", message=f"Missing sections: {', '.join(missing)}")
        )
    for section in deliverable.sections:
        body = bodies.get(section.heading)
        if body is None:
            continue
        lacking = [term for term in section.must_contain if not contains_term(body, term)]
        if lacking:
            terms = ", ".join(f"“{term}”" for term in lacking)
            findings.append(
                Finding(
                    check="terms", message=f"Section {section.heading} does not mention {terms}"
                )
            )
    return findings


def placeholders(text: str) -> list[str]:
    """Placeholders left unmarked: outside a TODO(...) line."""
    found: list[str] = []
    for line in text.splitlines():
        if "TODO(" in line:
            continue
        for match in [*PLACEHOLDER.finditer(line), *_TBD.finditer(line)]:
            if match.group(0) not in found:
                found.append(match.group(0))
    return found


def _csv(deliverable: DeliverableType, file: DraftFile) -> list[Finding]:
    rows = list(csv.reader(io.StringIO(file.text or "")))
    if not rows:
        return [Finding(check="columns", message=f"{file.name} is empty")]
    names = [c.name for c in deliverable.columns]
    missing = [name for name in names if name not in rows[0]]
    findings = []
    if missing:
        findings.append(Finding(check="columns", message=f"Missing columns: {', '.join(missing)}"))
        return findings
    index = {name: rows[0].index(name) for name in names}
    body = [row for row in rows[1:] if row and row[0] != TOTAL]
    totals = [row for row in rows[1:] if row and row[0] == TOTAL]
    for column in deliverable.columns:
        at = index[column.name]
        if column.kind != "formula" and not optional(column):
            blank = sum(1 for row in body if at >= len(row) or not row[at].strip())
            if blank:
                findings.append(
                    Finding(
                        check="cells",
                        message=f"{column.name}: {blank} empty cells not marked TODO",
                    )
                )
        if column.kind in NUMERIC:
            bad = [
                row[at]
                for row in body
                if at < len(row) and row[at] not in ("", "TODO") and parse_number(row[at]) is None
            ]
            if bad:
                findings.append(
                    Finding(check="cells", message=f"{column.name}: not numbers: {bad[:3]}")
                )
    summed = [deliverable.columns[i] for i in summed_columns(deliverable.columns)]
    if summed and not totals:
        findings.append(Finding(check="totals", message="No Total row"))
    for row in totals[:1]:
        for column in summed:
            at = index[column.name]
            known = [parse_number(r[at]) for r in body if at < len(r)]
            expected = sum(v for v in known if v is not None)
            got = parse_number(row[at]) if at < len(row) else None
            if got is None or abs(got - expected) > 0.005 * max(1.0, abs(expected)):
                findings.append(
                    Finding(
                        check="totals",
                        message=f"{column.name}: Total {row[at] if at < len(row) else ''!r} "
                        f"is not the sum of the rows ({expected:g})",
                    )
                )
    return findings


def _xlsx(deliverable: DeliverableType, file: DraftFile) -> list[Finding]:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        book = load_workbook(io.BytesIO(file.content))
    except Exception as exc:
        return [Finding(check="workbook", message=f"{file.name} does not open: {exc}")]
    findings = []
    if "About" not in book.sheetnames or not book["About"]["A1"].value:
        findings.append(Finding(check="provenance", message="The workbook has no About sheet"))
    sheets = [name for name in book.sheetnames if name != "About"]
    if not sheets:
        return [*findings, Finding(check="columns", message="The workbook has no table sheet")]
    sheet = book[sheets[0]]
    header = [cell.value for cell in sheet[1]]
    missing = [c.name for c in deliverable.columns if c.name not in header]
    if missing:
        return [
            *findings,
            Finding(check="columns", message=f"Missing columns: {', '.join(missing)}"),
        ]
    summed = [deliverable.columns[i] for i in summed_columns(deliverable.columns)]
    rows = list(sheet.iter_rows(min_row=2))
    body = [row for row in rows if row[0].value != TOTAL]
    total = next((row for row in rows if row[0].value == TOTAL), None)
    last = 1 + len(body)
    for column in deliverable.columns:
        at = header.index(column.name)
        if column.kind == "formula" and column.formula:
            plain = [row[at].coordinate for row in body if not str(row[at].value).startswith("=")]
            if plain:
                findings.append(
                    Finding(check="formulas", message=f"{column.name}: no formula in {plain[:3]}")
                )
        elif column.kind != "formula" and not optional(column):
            unmarked = [
                row[at].coordinate
                for row in body
                if row[at].value in (None, "") and row[at].comment is None
            ]
            if unmarked:
                findings.append(
                    Finding(check="cells", message=f"{column.name}: empty, unmarked {unmarked[:3]}")
                )
        if column in summed:
            letter = get_column_letter(at + 1)
            want = f"=SUM({letter}2:{letter}{last})"
            got = None if total is None else total[at].value
            if got != want:
                findings.append(
                    Finding(
                        check="totals",
                        message=f"{column.name}: Total is {got!r}, expected {want}",
                    )
                )
    return findings


def _ics(file: DraftFile, facts: ProjectFacts | None) -> list[Finding]:
    events, problems = parse_ics(file.text or "")
    findings = [Finding(check="calendar", message=f"{file.name}: {p}") for p in problems]
    if facts is not None:
        expected = {event.summary for event in schedule_events(facts)}
        got = {event.get("SUMMARY", "").replace("\\,", ",").replace("\\;", ";") for event in events}
        lacking = sorted(expected - got)
        if lacking:
            findings.append(
                Finding(check="calendar", message=f"Events missing: {', '.join(lacking[:5])}")
            )
    if "X-WR-CALDESC" not in (file.text or ""):
        findings.append(Finding(check="provenance", message=f"{file.name} has no X-WR-CALDESC"))
    return findings


def _code(draft: Draft) -> list[Finding]:
    names = {file.name.split("/", 1)[1] if "/" in file.name else file.name for file in draft.files}
    names |= {file.name for file in draft.files}
    findings = []
    missing = [name for name in REQUIRED_FILES if not any(n.endswith(name) for n in names)]
    if missing:
        findings.append(Finding(check="code", message=f"Missing files: {', '.join(missing)}"))
    for file in draft.files:
        if file.name.endswith(".py"):
            try:
                compile(file.text or "", file.name, "exec")
            except SyntaxError as exc:
                findings.append(Finding(check="code", message=f"{file.name}: {exc}"))
    app = next((f.text or "" for f in draft.files if f.name.endswith("app.py")), "")
    tests = next((f.text or "" for f in draft.files if f.name.endswith("test_app.py")), "")
    for route in re.findall(r'"(/api/[a-z0-9-]+)"', app):
        if route not in tests:
            findings.append(Finding(check="code", message=f"No test covers {route}"))
    return findings


def provenance_first(file: DraftFile) -> bool:
    text = (file.text or "").lstrip("\ufeff")
    first = text.splitlines()[0] if text else ""
    if file.name.endswith(".md"):
        return first.startswith(("> ", "<!--"))
    if file.name.endswith((".py", ".txt")):
        return first.startswith("# ")
    return True


def check(
    deliverable: DeliverableType, draft: Draft, facts: ProjectFacts | None = None
) -> list[Finding]:
    """The type's machine checks on a draft; empty when it passes."""
    findings: list[Finding] = []
    primary = draft.primary
    if deliverable.format == "markdown":
        findings += structure(primary.text or "", deliverable)
    elif deliverable.format == "csv":
        findings += _csv(deliverable, primary)
    elif deliverable.format == "xlsx":
        findings += _xlsx(deliverable, primary)
    elif deliverable.format == "ics":
        findings += _ics(primary, facts)
    elif deliverable.format == "code":
        findings += _code(draft)
    for file in draft.files[1:]:
        if file.name.endswith(".ics"):
            findings += _ics(file, facts)
    if deliverable.format == "csv" and not any(f.name.endswith(".md") for f in draft.files):
        findings.append(Finding(check="provenance", message="No README beside the table"))
    for file in draft.files:
        if file.text is None or file.name.endswith((".py", ".ics")):
            continue
        if not provenance_first(file):
            findings.append(
                Finding(check="provenance", message=f"{file.name} does not say how it was made")
            )
        left = placeholders(file.text)
        if left:
            findings.append(
                Finding(
                    check="placeholder",
                    message=f"{file.name}: placeholders not marked TODO: {', '.join(left[:5])}",
                )
            )
    for file in draft.files:
        if file.name.endswith(".py") and not provenance_first(file):
            findings.append(
                Finding(check="provenance", message=f"{file.name} does not say how it was made")
            )
    return findings
