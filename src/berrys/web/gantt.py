"""The project page's Gantt chart, laid out for a server-rendered SVG (no JS library).

Pixel coordinates in one fixed viewBox, so that text keeps its shape: a gutter of task names
on the left, a time axis with dates along the top (days, weeks or months, by the plan's
span), one labelled bar per task (the critical path in its own colour), elbow arrows for
the dependencies drawn by type (FS: finish to start, SS: start to start, FF: finish to
finish, SF: start to finish) and a line for today. Rows are 22 px, so 100 tasks are a
2.2k px tall chart that scrolls with the page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

LABEL_WIDTH = 250  # the gutter of task names
PAD = 14  # between the names and the chart, room for arrows that leave a bar's start
CHART_WIDTH = 750
WIDTH = LABEL_WIDTH + PAD + CHART_WIDTH + 12
AXIS_HEIGHT = 34
ROW = 22
BAR = 14
LABEL_CHARS = 34
TODAY_REACH = timedelta(days=14)
DEPENDENCY_NAMES = {
    "FS": "finish to start",
    "SS": "start to start",
    "FF": "finish to finish",
    "SF": "start to finish",
}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ticks(start: datetime, finish: datetime) -> tuple[str, list[datetime]]:
    """Whole days, Mondays or first days of a month between start and finish."""
    span = finish - start
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if span <= timedelta(days=16):
        unit, step = "day", timedelta(days=1)
        first = day if day >= start else day + step
    elif span <= timedelta(days=140):
        unit, step = "week", timedelta(days=7)
        first = day + timedelta(days=(7 - day.weekday()) % 7)
        if first < start:
            first += step
    else:
        unit = "month"
        first = day.replace(day=1)
        ticks = []
        while first <= finish:
            if first >= start:
                ticks.append(first)
            first = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return unit, ticks
    ticks = []
    while first <= finish:
        ticks.append(first)
        first += step
    return unit, ticks


def _label(value: datetime, unit: str) -> str:
    if unit == "month":
        return value.strftime("%b %Y")
    return f"{value.strftime('%a')} {value.day} {value.strftime('%b')}"


def gantt(
    schedule: Any, dependencies: list[Any] | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """Everything the template draws: rows, axis ticks, arrows, today's line, the legend."""
    tasks = sorted(schedule.tasks, key=lambda t: (t.es_hours, t.name))
    plan_start = _aware(schedule.start_at)
    plan_finish = max([_aware(t.early_finish) for t in tasks] or [plan_start])
    today = _aware(now or datetime.now(UTC))
    # Today widens the axis when it is near the plan (a plan that starts next Monday shows
    # today before it); a plan far in the past or the future only says where today is.
    near = plan_start - TODAY_REACH <= today <= plan_finish + TODAY_REACH
    start = min(plan_start, today) if near else plan_start
    finish = max(plan_finish, today) if near else plan_finish
    axis = _Axis(start, max(finish, start + timedelta(hours=1)))
    critical = set(schedule.critical_path)
    rows = [_row(task, number, axis, critical) for number, task in enumerate(tasks)]
    index = {task.task_id: row for task, row in zip(tasks, rows, strict=True)}
    on_path = set(zip(schedule.critical_path, schedule.critical_path[1:], strict=False))
    arrows = [
        _arrow(dep, index[dep.from_task_id], index[dep.to_task_id], on_path)
        for dep in dependencies or []
        if dep.from_task_id in index and dep.to_task_id in index
    ]
    unit, ticks = _ticks(axis.start, axis.finish)
    return {
        "rows": rows,
        "arrows": arrows,
        "types": sorted({a["type"] for a in arrows}),
        "type_names": DEPENDENCY_NAMES,
        "ticks": [{"x": axis.x_of(t), "label": _label(t, unit), "date": t} for t in ticks],
        "unit": unit,
        "today": {"x": axis.x_of(today), "date": today} if near else None,
        "today_date": today,
        "before_start": today < plan_start,
        "start": plan_start,
        "finish": plan_finish,
        "finish_hours": round(schedule.finish_hours, 1),
        "critical_names": [index[t]["name"] for t in schedule.critical_path if t in index],
        "width": WIDTH,
        "height": AXIS_HEIGHT + ROW * max(len(rows), 1) + 4,
        "label_width": LABEL_WIDTH + PAD,
        "axis_height": AXIS_HEIGHT,
        "chart_end": LABEL_WIDTH + PAD + CHART_WIDTH,
    }


@dataclass(frozen=True)
class _Axis:
    """The time axis from ``start`` to ``finish`` across the chart's width."""

    start: datetime
    finish: datetime

    def x_of(self, moment: datetime) -> float:
        seconds = (self.finish - self.start).total_seconds()
        offset = (_aware(moment) - self.start).total_seconds() / seconds
        return round(LABEL_WIDTH + PAD + CHART_WIDTH * min(max(offset, 0.0), 1.0), 1)


def _row(task: Any, number: int, axis: _Axis, critical: set[uuid.UUID]) -> dict[str, Any]:
    """A task's bar in row ``number``, with its name in the gutter."""
    x1, x2 = axis.x_of(task.early_start), axis.x_of(task.early_finish)
    y = AXIS_HEIGHT + number * ROW
    return {
        "id": str(task.task_id),
        "name": task.name,
        "label": task.name if len(task.name) <= LABEL_CHARS else task.name[: LABEL_CHARS - 1] + "…",
        "x": x1,
        "width": round(max(x2 - x1, 2.0), 1),
        "y": y + (ROW - BAR) / 2,
        "text_y": y + ROW / 2 + 4,
        "row_y": y,
        "critical": task.task_id in critical,
        "hours": round(task.duration_hours, 1),
        "slack": round(task.total_slack_hours, 1),
        "start": _aware(task.early_start),
        "finish": _aware(task.early_finish),
    }


def _arrow(
    dep: Any,
    source: dict[str, Any],
    target: dict[str, Any],
    on_path: set[tuple[uuid.UUID, uuid.UUID]],
) -> dict[str, Any]:
    """A dependency's elbow arrow, from the edge of the source bar its type names to the
    target's."""
    kind = dep.type.value
    from_x = source["x"] + (source["width"] if kind in ("FS", "FF") else 0)
    to_x = target["x"] + (target["width"] if kind in ("FF", "SF") else 0)
    from_y, to_y = source["y"] + BAR / 2, target["y"] + BAR / 2
    # Out of the source by 6 px, along to the target's row, into the target's edge.
    out = from_x + 6 if kind in ("FS", "FF") else from_x - 6
    into = to_x - 6 if kind in ("FS", "SS") else to_x + 6
    bend = to_y - (BAR / 2 + 2) if to_y > from_y else to_y + (BAR / 2 + 2)
    return {
        "type": kind,
        "d": (
            f"M{from_x},{from_y} H{out} V{bend} H{into} V{to_y} H{to_x}"
            if abs(out - into) > 0.5
            else f"M{from_x},{from_y} H{out} V{to_y} H{to_x}"
        ),
        "critical": (dep.from_task_id, dep.to_task_id) in on_path,
        "title": f"{source['name']} → {target['name']}: {DEPENDENCY_NAMES[kind]}"
        + (f", lag {dep.lag_hours:g} h" if dep.lag_hours else ""),
    }
