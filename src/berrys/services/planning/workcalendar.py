"""Working hours from a plan's start onto calendar datetimes (UTC), and back."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from berrys.services.planning.contracts import WorkCalendarSpec

_EPS = 1e-9


class WorkCalendar:
    """Counts ``hours_per_day`` on each working day that is not a holiday, from ``start``.

    Hour 0 is the start of the first working day on or after ``start`` (or ``start`` itself
    when it falls inside working hours). A start at hour ``h`` is the moment work begins; a
    finish at hour ``h`` that ends a day is that day's close, not the next morning.
    """

    def __init__(self, spec: WorkCalendarSpec, start: datetime) -> None:
        self.hours_per_day = spec.hours_per_day
        self._weekdays = frozenset(spec.working_days)
        self._holidays = frozenset(spec.holidays)
        self._day_start = timedelta(hours=spec.day_start_hour)
        start = start.astimezone(UTC)
        day = start.date()
        offset = 0.0
        if self._is_working(day):
            opens = self._opening(day)
            into = (start - opens).total_seconds() / 3600
            if into >= self.hours_per_day:
                day += timedelta(days=1)
            elif into > 0:
                offset = into
        self._days: list[date] = []
        self._cursor = day
        self._offset = offset  # hours already gone on the first day

    def _is_working(self, day: date) -> bool:
        return day.weekday() in self._weekdays and day not in self._holidays

    def _opening(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=UTC) + self._day_start

    def _working_day(self, index: int) -> date:
        days = self._days
        cursor = self._cursor
        while len(days) <= index:
            while not self._is_working(cursor):
                cursor += timedelta(days=1)
            days.append(cursor)
            cursor += timedelta(days=1)
        self._cursor = cursor
        return days[index]

    @property
    def start(self) -> datetime:
        return self.at(0.0)

    def at(self, hours: float, *, finish: bool = False) -> datetime:
        """The datetime ``hours`` working hours after the plan's start."""
        total = max(0.0, hours) + self._offset
        index = int(total // self.hours_per_day)
        within = total - index * self.hours_per_day
        if finish and index > 0 and within <= _EPS:
            index -= 1
            within = self.hours_per_day
        return self._opening(self._working_day(index)) + timedelta(hours=within)

    @property
    def hours_per_week(self) -> float:
        return self.hours_per_day * len(self._weekdays)
