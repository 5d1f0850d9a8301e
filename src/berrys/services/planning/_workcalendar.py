"""Working hours from a plan's start onto calendar datetimes (UTC), and back."""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta

from berrys.core.errors import Unprocessable
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
        self._first = day
        self._offset = offset  # hours already gone on the first day
        # Days from the first one to each working weekday of its week, and the holidays that
        # close a working weekday from then on: the n-th working day is arithmetic.
        self._week = [d for d in range(7) if (day + timedelta(days=d)).weekday() in self._weekdays]
        self._closed = sorted(
            h for h in self._holidays if h >= day and h.weekday() in self._weekdays
        )

    def _is_working(self, day: date) -> bool:
        return day.weekday() in self._weekdays and day not in self._holidays

    def _opening(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=UTC) + self._day_start

    def _weekday(self, index: int) -> date:
        """The ``index``-th working weekday from the first day, holidays aside."""
        weeks, within = divmod(index, len(self._week))
        return self._first + timedelta(days=7 * weeks + self._week[within])

    def _working_day(self, index: int) -> date:
        """The ``index``-th working day: whole weeks counted, then moved past the holidays on
        or before it (each pass takes in the holidays the last one passed; at most 1000)."""
        closed = 0
        while True:
            day = self._weekday(index + closed)
            passed = bisect_right(self._closed, day)
            if passed == closed:
                return day
            closed = passed

    @property
    def start(self) -> datetime:
        return self.at(0.0)

    def at(self, hours: float, *, finish: bool = False) -> datetime:
        """The datetime ``hours`` working hours after the plan's start."""
        total = max(0.0, hours) + self._offset
        try:
            index = int(total // self.hours_per_day)
            within = total - index * self.hours_per_day
            if finish and index > 0 and within <= _EPS:
                index -= 1
                within = self.hours_per_day
            return self._opening(self._working_day(index)) + timedelta(hours=within)
        except OverflowError:
            raise Unprocessable(
                f"The schedule runs past the year 9999: {hours:,.0f} working hours at "
                f"{self.hours_per_day:g} h a day on {len(self._weekdays)} day(s) a week; "
                "shorten the estimates or lengthen the working day",
                hours=hours,
            ) from None

    @property
    def hours_per_week(self) -> float:
        return self.hours_per_day * len(self._weekdays)
