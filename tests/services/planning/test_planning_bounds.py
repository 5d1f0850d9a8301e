"""Schedules of any size answer at once and never overflow: the calendar and the start are
bounded in the contract, a date past year 9999 is a clear 422, and working days are counted
by arithmetic, not walked one by one."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from berrys.core.errors import Unprocessable
from berrys.services.planning import _analysis, _insights
from berrys.services.planning._workcalendar import WorkCalendar
from berrys.services.planning.contracts import WorkCalendarSpec

P = "/api/v1/plans"


async def _project(client, actor) -> str:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/projects", json={"name": "Long haul"}, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _plan(client, actor, project_id, **body):  # type: ignore[no-untyped-def]
    return await client.post(
        f"/api/v1/projects/{project_id}/plans",
        json={"generate": False, **body},
        headers=actor.headers,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"calendar": {"hours_per_day": 0.05}}, "hours_per_day"),
        ({"calendar": {"hours_per_day": 1e-9}}, "hours_per_day"),
        ({"start_at": "9999-12-01T09:00:00Z"}, "start_at"),
        ({"start_at": "0001-01-01T00:00:00+05:00"}, "start_at"),
    ],
)
async def test_a_calendar_or_start_out_of_range_is_422(client, member, body, field):
    project_id = await _project(client, member)
    response = await _plan(client, member, project_id, **body)
    assert response.status_code == 422, response.text
    assert any(error["loc"][-1] == field for error in response.json()["errors"])
    plan = (await _plan(client, member, project_id)).json()
    patched = await client.patch(f"{P}/{plan['id']}", json=body, headers=member.headers)
    assert patched.status_code == 422, patched.text


def test_the_schema_shows_the_calendar_bounds():
    hours = WorkCalendarSpec.model_json_schema()["properties"]["hours_per_day"]
    assert hours["minimum"] == 0.5
    assert hours["maximum"] == 24


async def test_a_schedule_past_year_9999_is_a_clear_422(client, member):
    project_id = await _project(client, member)
    created = await _plan(
        client,
        member,
        project_id,
        start_at="2999-12-01T09:00:00Z",
        calendar={"hours_per_day": 0.5, "working_days": [0]},
    )
    assert created.status_code == 201, created.text
    plan_id = created.json()["id"]
    ids = []
    for name in ("Dig", "Build"):  # 200,000 working days each: ~3,800 years apiece
        task = await client.post(
            f"{P}/{plan_id}/tasks",
            json={"name": name, "estimate_hours": 100_000},
            headers=member.headers,
        )
        assert task.status_code == 201, task.text
        ids.append(task.json()["id"])
    dependency = await client.post(
        f"{P}/{plan_id}/dependencies",
        json={"from_task_id": ids[0], "to_task_id": ids[1]},
        headers=member.headers,
    )
    assert dependency.status_code == 201, dependency.text

    schedule = await client.get(f"{P}/{plan_id}/schedule", headers=member.headers)
    assert schedule.status_code == 422, schedule.text
    assert "9999" in schedule.json()["detail"]
    what_if = await client.post(
        f"{P}/{plan_id}/what-if",
        json={"changes": [{"kind": "ESTIMATE", "task_id": ids[0], "estimate_hours": 1}]},
        headers=member.headers,
    )
    assert what_if.status_code == 422, what_if.text
    stats = await client.get(f"/api/v1/projects/{project_id}/stats", headers=member.headers)
    assert stats.status_code == 200, stats.text
    assert stats.json()["eta"] is None  # no date to give, and the rest of the stats stand


def _walked(spec: WorkCalendarSpec, start: datetime, hours: float, finish: bool) -> datetime:
    """The reference: the calendar walked day by day, as simply as it can be said."""
    day, left = start.date(), hours
    opens = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=spec.day_start_hour
    )
    working = day.weekday() in spec.working_days and day not in spec.holidays
    into = (start - opens).total_seconds() / 3600 if working else 0.0
    if working and into >= spec.hours_per_day:
        day, into = day + timedelta(days=1), 0.0
    left += max(0.0, into)
    while True:
        if day.weekday() in spec.working_days and day not in spec.holidays:
            if left < spec.hours_per_day or (finish and left <= spec.hours_per_day):
                opens = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
                return opens + timedelta(hours=spec.day_start_hour + left)
            left -= spec.hours_per_day
        day += timedelta(days=1)


def test_the_calendar_agrees_with_a_day_by_day_walk():
    rng = random.Random(17)
    for _ in range(300):
        weekdays = sorted(rng.sample(range(7), rng.randint(1, 7)))
        start = datetime(2026, 11, 23, tzinfo=UTC) + timedelta(hours=rng.randint(0, 24 * 14))
        holidays = [date(2026, 11, 23) + timedelta(days=rng.randint(-5, 120)) for _ in range(30)]
        spec = WorkCalendarSpec(
            hours_per_day=rng.choice([0.5, 3, 7.5, 8]),
            working_days=weekdays,
            day_start_hour=rng.choice([0, 6, 9]),
            holidays=holidays,
        )
        calendar = WorkCalendar(spec, start)
        for hours in [0, 0.5, 3, 8, 24, 40, 41.25, 100, 160, 333.5]:
            for finish in (False, True):
                assert calendar.at(hours, finish=finish) == _walked(spec, start, hours, finish), (
                    spec,
                    start,
                    hours,
                    finish,
                )


def test_a_far_date_is_computed_not_walked():
    """The old calendar walked every day: 100,000 h at 0.5 h a day, one day a week, took
    seconds on the event loop. Counting whole weeks answers in well under a millisecond."""
    spec = WorkCalendarSpec(
        hours_per_day=0.5, working_days=[2], holidays=[date(2027, 1, 6), date(2030, 1, 2)]
    )
    start = datetime(2026, 11, 30, 9, tzinfo=UTC)  # a Monday
    began = time.perf_counter()
    calendar = WorkCalendar(spec, start)
    end = calendar.at(100_000, finish=True)
    elapsed = time.perf_counter() - began
    # 200,000 Wednesdays, two of them holidays: the first is 2 December 2026.
    assert end.date() == date(2026, 12, 2) + timedelta(weeks=200_000 - 1 + 2)
    assert elapsed < 0.25
    with pytest.raises(Unprocessable, match="9999"):
        calendar.at(1_000_000)


async def _small_plan(client, member) -> str:  # type: ignore[no-untyped-def]
    project_id = await _project(client, member)
    plan_id = (await _plan(client, member, project_id)).json()["id"]
    task = await client.post(
        f"{P}/{plan_id}/tasks",
        json={
            "name": "Survey",
            "estimate_hours": 8,
            "optimistic_hours": 4,
            "pessimistic_hours": 20,
        },
        headers=member.headers,
    )
    assert task.status_code == 201, task.text
    return plan_id


async def test_the_forecast_runs_off_the_event_loop(client, member, monkeypatch):
    """While one schedule samples its forecast, other requests are answered."""
    plan_id = await _small_plan(client, member)
    started, released = threading.Event(), threading.Event()
    seen: dict[str, bool] = {}
    sample = _analysis.forecast

    def slow_forecast(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.set()
        seen["answered meanwhile"] = released.wait(timeout=5)
        return sample(*args, **kwargs)

    monkeypatch.setattr(_analysis, "forecast", slow_forecast)
    schedule = asyncio.create_task(client.get(f"{P}/{plan_id}/schedule", headers=member.headers))
    assert await asyncio.to_thread(started.wait, 5)
    health = await client.get("/health")  # on the loop while the forecast is under way
    assert health.status_code == 200
    released.set()
    response = await schedule
    assert response.status_code == 200, response.text
    assert seen == {"answered meanwhile": True}


async def test_a_forecast_past_its_time_is_a_clear_503(client, member, monkeypatch):
    plan_id = await _small_plan(client, member)
    released = threading.Event()

    def stuck_forecast(*args, **kwargs):  # type: ignore[no-untyped-def]
        released.wait(timeout=5)
        return 0.0, 0.0, 0.0

    monkeypatch.setattr(_analysis, "forecast", stuck_forecast)
    monkeypatch.setattr(_insights, "SCHEDULE_TIMEOUT_SECONDS", 0.05)
    try:
        response = await client.get(f"{P}/{plan_id}/schedule", headers=member.headers)
    finally:
        released.set()
    assert response.status_code == 503, response.text
    assert "iterations" in response.json()["detail"]
