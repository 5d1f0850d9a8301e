"""The working calendar, the catalogue's plan drafts per methodology, and draft normalisation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import AgentType, DependencyType, Methodology
from berrys.services.planning import _schedule as engine
from berrys.services.planning._generation import normalise
from berrys.services.planning._workcalendar import WorkCalendar
from berrys.services.planning.contracts import (
    DependencyDraft,
    PhaseDraft,
    PlanDraft,
    TaskDraft,
    WorkCalendarSpec,
)

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _at(calendar: WorkCalendar, hours: float, *, finish: bool = False) -> str:
    return calendar.at(hours, finish=finish).strftime("%a %d %H:%M")


def test_calendar_counts_working_hours_on_working_days():
    week = WorkCalendar(WorkCalendarSpec(), MONDAY)
    assert _at(week, 0) == "Mon 30 09:00"
    assert _at(week, 8) == "Tue 01 09:00"
    assert _at(week, 8, finish=True) == "Mon 30 17:00"
    assert _at(week, 40, finish=True) == "Fri 04 17:00"
    assert _at(week, 41) == "Mon 07 10:00"
    holiday = WorkCalendar(WorkCalendarSpec(holidays=[date(2026, 12, 1)]), MONDAY)
    assert _at(holiday, 8) == "Wed 02 09:00"
    short = WorkCalendar(
        WorkCalendarSpec(hours_per_day=6, working_days=[0, 2], day_start_hour=10), MONDAY
    )
    assert _at(short, 7) == "Wed 02 11:00"
    assert short.hours_per_week == 12


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), "Mon 30 09:00"),  # a Saturday
        (datetime(2026, 11, 30, 7, 0, tzinfo=UTC), "Mon 30 09:00"),  # before opening
        (datetime(2026, 11, 30, 13, 0, tzinfo=UTC), "Mon 30 13:00"),  # mid-day
        (datetime(2026, 11, 30, 18, 0, tzinfo=UTC), "Tue 01 09:00"),  # after closing
    ],
)
def test_calendar_start_moves_to_working_time(start, expected):
    calendar = WorkCalendar(WorkCalendarSpec(), start)
    assert _at(calendar, 0) == expected


def test_calendar_rejects_a_day_past_midnight():
    with pytest.raises(ValueError, match="midnight"):
        WorkCalendarSpec(hours_per_day=10, day_start_hour=20)


TEAM = [
    catalogue.Member("Coordinator", AgentType.COORDINATOR, ("planning",)),
    catalogue.Member("Dev", AgentType.DEVELOPER, ("software engineering", "testing")),
    catalogue.Member("Writer", AgentType.ASSISTANT, ("technical writing",)),
]


def _check(draft: PlanDraft, team: list[catalogue.Member]) -> None:
    skills = {m.name: set(m.skills) for m in team}
    keys = [t.key for p in draft.phases for t in p.tasks]
    assert len(keys) == len(set(keys))
    for task in (t for p in draft.phases for t in p.tasks):
        assert task.agent in skills
        assert set(task.required_skills) <= skills[task.agent]
        assert task.estimate_hours > 0
        if task.optimistic_hours is not None:
            assert task.optimistic_hours <= task.estimate_hours
        if task.pessimistic_hours is not None:
            assert task.pessimistic_hours >= task.estimate_hours
    index = {k: i for i, k in enumerate(keys)}
    pred = [index[d.from_task] for d in draft.dependencies]
    succ = [index[d.to_task] for d in draft.dependencies]
    assert engine.find_cycle(len(keys), pred, succ) is None


def test_normalise_repairs_a_bad_draft():
    bad = PlanDraft(
        phases=[
            PhaseDraft(
                name="Work",
                tasks=[
                    TaskDraft(key="T1", name="Build", estimate_hours=5, agent="Nobody"),
                    TaskDraft(
                        key="T1",
                        name="Test",
                        estimate_hours=4,
                        optimistic_hours=4,
                        pessimistic_hours=6,
                        required_skills=["testing", "quantum physics"],
                        agent="Writer",
                    ),
                    TaskDraft(key="T3", name="Docs", estimate_hours=2, agent="Writer"),
                ],
            )
        ],
        dependencies=[
            DependencyDraft(from_task="T1", to_task="T3"),
            DependencyDraft(from_task="T3", to_task="T1"),  # closes a cycle
            DependencyDraft(from_task="T3", to_task="T9"),  # unknown task
            DependencyDraft(from_task="T3", to_task="T3"),  # itself
        ],
    )
    fixed, notes = normalise(bad, TEAM)
    _check(fixed, TEAM)
    tasks = fixed.phases[0].tasks
    assert tasks[1].key != "T1"
    assert tasks[1].agent == "Dev"  # the one who has testing
    assert tasks[1].required_skills == ["testing"]
    assert [(d.from_task, d.to_task) for d in fixed.dependencies] == [("T1", "T3")]
    assert any("cycle" in n for n in notes)
    assert any("quantum physics" in n for n in notes)


DESCRIPTIONS = [
    "Build a shop. Customers must pay securely. Write the docs; test everything.",
    "Organise a one-day repair café: volunteers, publicity and a booking form",
    "Sort out the garage and sell the old bikes",
]


@pytest.mark.parametrize("methodology", list(Methodology))
@pytest.mark.parametrize("description", DESCRIPTIONS)
async def test_catalogue_drafts_need_no_repair(models, methodology, description):
    understood = await catalogue.understand(models, description)
    draft = catalogue.plan_draft(understood, TEAM, methodology)
    fixed, notes = normalise(draft, TEAM)
    assert notes == []
    _check(fixed, TEAM)
    assert all(t.deliverable for p in draft.phases for t in p.tasks)
    if methodology != Methodology.CRITICAL_PATH:
        assert len(draft.milestones) == len(draft.phases)


members = st.builds(
    catalogue.Member,
    name=st.sampled_from(["A", "B", "C", "D", "E"]),
    agent_type=st.sampled_from(list(AgentType)),
    skills=st.lists(
        st.sampled_from(["planning", "testing", "ux", "apis", "writing"]), max_size=3
    ).map(tuple),
)
TYPE_KEYS = sorted(catalogue.shipped().types)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(list(Methodology)),
    st.lists(members, min_size=1, max_size=5, unique_by=lambda m: m.name),
    st.lists(st.sampled_from(TYPE_KEYS), max_size=2, unique=True),
    # Any text a project can hold: contracts refuse NUL, so no description carries one.
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300),
)
def test_any_team_types_and_description_give_a_valid_plan(methodology, team, keys, description):
    shipped = catalogue.shipped()
    understood = catalogue.draft(
        shipped, description, types=[catalogue.match(shipped, k) for k in keys]
    )
    draft, _ = normalise(catalogue.plan_draft(understood, team, methodology), team)
    _check(draft, team)
    assert sum(len(p.tasks) for p in draft.phases) > 0
    assert all(d.type in DependencyType for d in draft.dependencies)
