"""Tables (CSV, ``.xlsx`` with formulas) and calendars (``.ics``) for the offline draft.

A table is the type's columns and standard rows; a cell the catalogue leaves empty is for a
person and is marked (``TODO`` in CSV, highlighted with a TODO comment in ``.xlsx``); money,
hours and formula columns get a Total row that adds up. A calendar has one event per
scheduled task, RFC 5545 written by hand (no library needed for this much).
"""

from __future__ import annotations

import ast
import csv
import io
import operator
import re
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from berrys.services.catalogue.contracts import Column, DeliverableType, ProjectFacts
from berrys.services.deliverables._drafting import Todos, fmt_date, fmt_number, plural

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell
    from openpyxl.worksheet.worksheet import Worksheet

NUMERIC = {"number", "money", "hours"}
TOTAL = "Total"
OPTIONAL = {"notes", "note", "comments", "comment", "remarks"}  # left empty, not a TODO
_REF = re.compile(r"\{(col|row):([^}]+)\}")
_RANGE = re.compile(r"\{col:([^}]+)\}:\{col:([^}]+)\}")
FIXED_TIME = datetime(2026, 1, 1, 0, 0, 0)


def summed_columns(columns: list[Column]) -> list[int]:
    """The columns a Total row adds up: computed amounts and hours; money columns only when
    nothing is computed (a unit price column is not summed beside its line totals)."""
    computed = [i for i, c in enumerate(columns) if c.kind == "formula" or c.kind == "hours"]
    if any(c.kind == "formula" for c in columns):
        return computed
    return [i for i, c in enumerate(columns) if c.kind in ("money", "hours")]


def optional(column: Column) -> bool:
    return column.name.strip().lower() in OPTIONAL


def parse_number(cell: object) -> float | None:
    """A number from a cell (``£1,200.50``, ``12``, ``15 %``), else None."""
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return float(cell)
    if not isinstance(cell, str):
        return None
    text = re.sub(r"[£$€,\s]", "", cell).rstrip("%")
    try:
        return float(text)
    except ValueError:
        return None


# --- evaluating a formula (CSV values) -------------------------------------------------------

_OPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _round(args: list[float]) -> float:
    """ROUND(number) or ROUND(number, digits); Python's round wants the digits as an int."""
    if len(args) == 2:
        return round(args[0], int(args[1]))
    (number,) = args  # any other count is not a formula (ValueError)
    return round(number)


# Each takes the call's arguments as one list.
_FUNCS: dict[str, Callable[[list[float]], float]] = {
    "SUM": sum,
    "MIN": min,
    "MAX": max,
    "ABS": lambda args: abs(*args),
    "ROUND": _round,
}


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        func = _FUNCS.get(node.func.id.upper())
        if func is not None:
            return float(func([_eval(arg) for arg in node.args]))
    raise ValueError("unsupported formula")


def evaluate(
    formula: str,
    value_of: dict[str, float | None],
    row_of: dict[str, float | None],
    names: list[str],
) -> float | None:
    """A formula's value with {col:X} (this row), {col:A}:{col:B} (a range of this row) and
    {row:NAME} (this column of another row); None when a cell it needs is empty."""
    text = formula.lstrip("=")

    def span(match: re.Match[str]) -> str:
        first, last = names.index(match.group(1)), names.index(match.group(2))
        return ",".join(f"{{col:{name}}}" for name in names[first : last + 1])

    text = _RANGE.sub(span, text)
    missing = False

    def ref(match: re.Match[str]) -> str:
        nonlocal missing
        kind, name = match.groups()
        value = (value_of if kind == "col" else row_of).get(name)
        if value is None:
            missing = True
            return "0"
        return repr(value)

    text = _REF.sub(ref, text)
    if missing:
        return None
    try:
        return _eval(ast.parse(text, mode="eval"))
    except (ValueError, SyntaxError, ZeroDivisionError, TypeError):
        return None


# --- a table ---------------------------------------------------------------------------------


@dataclass
class Table:
    """The type's table: raw cells ("" for a person), with what a person must fill."""

    columns: list[Column]
    rows: list[list[str]]
    owner: str
    to_fill: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def summed(self) -> list[int]:
        return summed_columns(self.columns)

    def computed(self, column: Column) -> bool:
        return column.kind == "formula" and bool(column.formula)


def _blank(cell: str) -> str:
    """A cell the catalogue leaves for a person: missing at the end of a row, or TODO."""
    return "" if cell.strip().upper() in ("TODO", "?") else cell


def table_of(deliverable: DeliverableType) -> Table:
    owner = deliverable.sections[0].owner if deliverable.sections else "project owner"
    width = len(deliverable.columns)
    rows = [
        [_blank(cell) for cell in [*row, *[""] * (width - len(row))]] for row in deliverable.rows
    ] or [[""] * width]
    table = Table(columns=list(deliverable.columns), rows=rows, owner=owner)
    for index, column in enumerate(table.columns):
        if table.computed(column) or optional(column):
            continue
        empty = sum(1 for row in rows if not row[index].strip())
        if empty:
            table.to_fill[column.name] = empty
    return table


def add_table_todos(table: Table, todos: Todos, *, marker: str) -> None:
    for name, count in table.to_fill.items():
        todos.add(table.owner, f"{name}: {plural(count, 'row')} to fill in ({marker})")


def values(table: Table) -> list[list[float | None]]:
    """Each cell's number (formulas evaluated, rows referring to rows in a few passes)."""
    names = table.names
    firsts = [row[0] for row in table.rows]
    result: list[list[float | None]] = [
        [
            None if table.computed(c) or row[i].startswith("=") else parse_number(row[i])
            for i, c in enumerate(table.columns)
        ]
        for row in table.rows
    ]
    for _ in range(3):
        for r, row in enumerate(table.rows):
            own = dict(zip(names, result[r], strict=True))
            for i, column in enumerate(table.columns):
                formula = column.formula if table.computed(column) else row[i]
                if not formula or (not table.computed(column) and not row[i].startswith("=")):
                    continue
                others = {firsts[k]: result[k][i] for k in range(len(table.rows))}
                result[r][i] = evaluate(formula, own, others, names)
                own[column.name] = result[r][i]
    return result


def _cell_text(value: float | None, column: Column) -> str:
    if value is None:
        return ""
    if column.kind == "money" or (column.kind == "formula" and not float(value).is_integer()):
        return f"{value:.2f}"
    return f"{value:.4f}".rstrip("0").rstrip(".")


def csv_rows(table: Table) -> list[list[str]]:
    """Header, rows (TODO marks the cells a person fills) and the Total row."""
    numbers = values(table)
    out = [table.names]
    for r, row in enumerate(table.rows):
        cells = []
        for i, column in enumerate(table.columns):
            raw = row[i].strip()
            if table.computed(column) or raw.startswith("="):
                cells.append(_cell_text(numbers[r][i], column))
            elif not raw:
                cells.append("" if optional(column) else "TODO")
            else:
                cells.append(raw)
        out.append(cells)
    if table.summed:
        total = [""] * len(table.columns)
        total[0] = TOTAL
        for i in table.summed:
            column_numbers = [numbers[r][i] for r in range(len(table.rows))]
            known = (n for n in column_numbers if n is not None)
            total[i] = _cell_text(sum(known), table.columns[i])
        out.append(total)
    return out


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


def markdown_table(rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in rows[0]) + " |"]
    lines.append("|" + "---|" * len(rows[0]))
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows[1:]]
    return lines


# --- .xlsx -----------------------------------------------------------------------------------


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def xlsx_formula(
    formula: str, row: int, names: list[str], row_index: dict[str, int], column: int
) -> str:
    """A catalogue formula as an Excel formula for sheet row ``row``."""

    def ref(match: re.Match[str]) -> str:
        kind, name = match.groups()
        if kind == "col":
            return f"{_letter(names.index(name))}{row}"
        return f"{_letter(column)}{row_index[name]}"

    return "=" + _REF.sub(ref, formula.lstrip("="))


def sheet_title(text: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", text)[:31].strip() or "Sheet"


def xlsx_bytes(table: Table, *, title: str, about: list[str]) -> tuple[bytes, list[list[str]]]:
    """The workbook (About sheet first, the table's sheet active) and a text view of it."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet_about = book.worksheets[0]  # a new workbook's one sheet
    sheet_about.title = "About"
    for line_number, line in enumerate(about, start=1):
        sheet_about.cell(row=line_number, column=1, value=line)
    sheet_about["A1"].font = Font(bold=True)
    sheet_about.column_dimensions["A"].width = 110
    sheet = book.create_sheet(sheet_title(title))
    names = table.names
    row_index = {row[0]: r + 2 for r, row in enumerate(table.rows) if row[0]}
    view = [names]
    for i, name in enumerate(names, start=1):
        sheet.cell(row=1, column=i, value=name).font = Font(bold=True)
        sheet.column_dimensions[_letter(i - 1)].width = max(12, min(48, len(name) + 4))
    for r, row in enumerate(table.rows, start=2):
        view.append(
            [
                _write_cell(
                    sheet.cell(row=r, column=i + 1), row[i].strip(), table, column, row_index
                )
                for i, column in enumerate(table.columns)
            ]
        )
    if table.summed:
        view.append(_total_row(sheet, table))
    sheet.freeze_panes = "A2"
    book.active = 1
    book.properties.creator = "Berrys"
    buffer = io.BytesIO()
    book.save(buffer)
    return _reproducible(buffer.getvalue()), view


def _write_cell(
    cell: Cell, raw: str, table: Table, column: Column, row_index: dict[str, int]
) -> str:
    """Write one table cell (a formula, a number, a date, text, or a marked TODO); its text
    in the view."""
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    i = cell.column - 1
    if table.computed(column) or raw.startswith("="):
        formula = column.formula if table.computed(column) else raw
        cell.value = xlsx_formula(formula or "", cell.row, table.names, row_index, i)
    elif not raw and optional(column):
        cell.value = None
    elif not raw:
        cell.fill = PatternFill("solid", start_color="FFF2CC", end_color="FFF2CC")
        cell.comment = Comment(f"TODO({table.owner}): fill in {column.name}", "Berrys")
        if column.kind not in NUMERIC:
            cell.value = "TODO"
    elif column.kind in NUMERIC and parse_number(raw) is not None:
        number = parse_number(raw) or 0.0
        cell.value = int(number) if number.is_integer() else number
    elif column.kind == "date" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        cell.value = date.fromisoformat(raw)
    else:
        cell.value = raw
    if column.kind == "money" or column.kind == "formula":
        cell.number_format = "#,##0.00"
    if cell.value is None:
        return "TODO" if cell.comment is not None else ""
    if isinstance(cell.value, float):
        return fmt_number(cell.value).replace(",", "")
    return str(cell.value)


def _total_row(sheet: Worksheet, table: Table) -> list[str]:
    """The Total row under the table, a SUM per summed column; its text in the view."""
    from openpyxl.styles import Font

    last = len(table.rows) + 1
    total_row = last + 1
    sheet.cell(row=total_row, column=1, value=TOTAL).font = Font(bold=True)
    shown = [TOTAL] + [""] * (len(table.columns) - 1)
    for i in table.summed:
        letter = _letter(i)
        cell = sheet.cell(row=total_row, column=i + 1, value=f"=SUM({letter}2:{letter}{last})")
        cell.font = Font(bold=True)
        cell.number_format = "#,##0.00"
        shown[i] = str(cell.value)
    return shown


def _reproducible(data: bytes) -> bytes:
    """The same workbook bytes every time: fixed zip entry times and document dates."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    body,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, body)
    return out.getvalue()


# --- .ics ------------------------------------------------------------------------------------


@dataclass
class CalendarEvent:
    uid: str
    summary: str
    start: date
    end: date  # exclusive, as RFC 5545 all-day events are
    description: str = ""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> list[str]:
    """Lines of at most 75 octets, continued with a leading space (RFC 5545 3.1)."""
    out: list[str] = []
    current = ""
    for char in line:
        limit = 75 if not out else 74
        if len((current + char).encode("utf-8")) > limit:
            out.append(current)
            current = char
        else:
            current += char
    out.append(current)
    return [out[0], *(" " + part for part in out[1:])]


def schedule_events(facts: ProjectFacts) -> list[CalendarEvent]:
    """One all-day event per scheduled task with dates (the plan's schedule)."""
    events = []
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"berrys:{facts.title}")
    for task in facts.schedule:
        start = task.start or task.finish
        finish = task.finish or task.start
        if start is None or finish is None:
            continue
        details = [f"Who: {task.agent}"] if task.agent else []
        if task.critical:
            details.append("On the critical path: a delay here delays the finish")
        events.append(
            CalendarEvent(
                uid=f"{uuid.uuid5(namespace, task.name)}@berrys",
                summary=task.name,
                start=start,
                end=max(finish, start) + timedelta(days=1),
                description=". ".join(details),
            )
        )
    return sorted(events, key=lambda e: (e.start, e.summary))


def ics_text(*, name: str, description: str, events: list[CalendarEvent], stamp: date) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Berrys//Deliverables//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
        f"X-WR-CALDESC:{_escape(description)}",
    ]
    dtstamp = f"{stamp:%Y%m%d}T000000Z"
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{dtstamp}",
            f"DTSTART;VALUE=DATE:{event.start:%Y%m%d}",
            f"DTEND;VALUE=DATE:{event.end:%Y%m%d}",
            f"SUMMARY:{_escape(event.summary)}",
        ]
        if event.description:
            lines.append(f"DESCRIPTION:{_escape(event.description)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))


def events_markdown(events: list[CalendarEvent]) -> list[str]:
    lines = ["| Dates | Event | Notes |", "|---|---|---|"]
    for event in events:
        last = event.end - timedelta(days=1)
        when = fmt_date(event.start)
        if last != event.start:
            when += f" to {fmt_date(last)}"
        lines.append(f"| {when} | {event.summary} | {event.description} |")
    return lines


def parse_ics(text: str) -> tuple[list[dict[str, str]], list[str]]:
    """(events as {NAME: value}, problems) of an iCalendar text: nesting, required
    properties and dates checked."""
    problems: list[str] = []
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    lines = [line for line in re.split(r"\r?\n", unfolded) if line]
    stack: list[str] = []
    events: list[dict[str, str]] = []
    calendar: dict[str, str] = {}
    current: dict[str, str] | None = None
    for number, line in enumerate(lines, start=1):
        if ":" not in line:
            problems.append(f"line {number} has no ':'")
            continue
        head, value = line.split(":", 1)
        name = head.split(";", 1)[0].upper()
        if name == "BEGIN":
            stack.append(value.upper())
            if value.upper() == "VEVENT":
                current = {}
        elif name == "END":
            if not stack or stack[-1] != value.upper():
                problems.append(f"line {number}: END:{value} does not close {stack[-1:]}")
                break
            stack.pop()
            if value.upper() == "VEVENT" and current is not None:
                events.append(current)
                current = None
        elif current is not None:
            current[name] = value
        elif stack == ["VCALENDAR"]:
            calendar[name] = value
    if stack:
        problems.append(f"unclosed {', '.join(stack)}")
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR":
        problems.append("does not start with BEGIN:VCALENDAR")
    for required in ("VERSION", "PRODID"):
        if required not in calendar:
            problems.append(f"calendar lacks {required}")
    for index, event in enumerate(events, start=1):
        for required in ("UID", "DTSTAMP", "DTSTART"):
            if required not in event:
                problems.append(f"event {index} lacks {required}")
        for key in ("DTSTART", "DTEND"):
            if key in event and not re.fullmatch(r"\d{8}(T\d{6}Z?)?", event[key]):
                problems.append(f"event {index}: {key} {event[key]!r} is not a date")
    return events, problems
