"""Deliverables fixtures: a bakery project's facts (with a schedule), the real catalogue's
deliverable types file by file, and small types built here for formats the catalogue
does not ship yet."""

from __future__ import annotations

from datetime import date

import pytest

from berrys.services.catalogue._catalogue import SHIPPED, read
from berrys.services.catalogue.contracts import (
    Column,
    Constraint,
    DeliverableType,
    FactMember,
    ProjectFacts,
    Requirement,
    ScheduledTask,
    Section,
)

BAKERY = "Write a launch plan and announcement for a neighbourhood bakery's new website"


def shipped(key: str) -> DeliverableType:
    """One of the catalogue's deliverable types, read from its file."""
    return read(SHIPPED / "deliverables" / f"{key}.yaml", DeliverableType)


@pytest.fixture
def facts() -> ProjectFacts:
    return ProjectFacts(
        title="Neighbourhood bakery website launch",
        description=BAKERY + ", going live on 14 March 2027 with a £400 budget.",
        project_types=["Marketing campaign"],
        constraints=[Constraint(dimension="budget", value=400, unit="£", text="a £400 budget")],
        team=[
            FactMember(name="Launch Coordinator", role="Coordinator", agent_type="COORDINATOR"),
            FactMember(name="Publicity Writer", role="Copywriter", agent_type="ASSISTANT"),
        ],
        requirements=[
            Requirement(
                text="The announcement names the bakery and the launch date",
                category="FUNCTIONAL",
                priority="HIGH",
                source="stated",
            )
        ],
        schedule=[
            ScheduledTask(
                name="Write the launch checklist",
                agent="Launch Coordinator",
                start=date(2026, 12, 7),
                finish=date(2026, 12, 8),
                hours=6,
                critical=True,
            ),
            ScheduledTask(
                name="Write the announcement",
                agent="Publicity Writer",
                start=date(2026, 12, 9),
                finish=date(2026, 12, 10),
                hours=4,
            ),
        ],
        start=date(2026, 12, 7),
        finish=date(2026, 12, 10),
    )


@pytest.fixture
def library() -> ProjectFacts:
    return ProjectFacts(
        title="Library loans app",
        description="A Flask app for our library to track book loans and members",
        entities=["book loans", "members"],
    )


def code_type(summary: str = "A runnable app with its tests.") -> DeliverableType:
    return DeliverableType(
        key="code_scaffold",
        version=1,
        title="Code scaffold",
        format="code",
        summary=summary,
        sections=[
            Section(
                heading="What it does",
                guidance="The records it keeps and who uses it",
                facts=["title", "description", "entities"],
                owner="developer",
            ),
            Section(
                heading="Requirements",
                guidance="What the app must do, as stated",
                facts=["requirements"],
                owner="developer",
            ),
        ],
        acceptance=["The generated tests pass"],
    )


def model_type() -> DeliverableType:
    return DeliverableType(
        key="financial_model",
        version=1,
        title="Financial model",
        format="xlsx",
        summary="Monthly costs and income for the first year.",
        columns=[
            Column(name="Line"),
            Column(name="Kind"),
            Column(name="Per month", kind="money"),
            Column(name="Months", kind="number"),
            Column(name="Year", kind="formula", formula="{col:Per month}*{col:Months}"),
            Column(name="Notes"),
        ],
        rows=[
            ["Rent", "Cost", "TODO", "12"],
            ["Flour and ingredients", "Cost", "TODO", "12"],
            ["Website hosting", "Cost", "12.50", "12"],
        ],
        acceptance=["Every cost has a monthly amount from a quote or a bill"],
    )


def calendar_type() -> DeliverableType:
    return DeliverableType(
        key="launch_calendar",
        version=1,
        title="Launch calendar",
        format="ics",
        summary="The launch work as calendar events everyone can subscribe to.",
        acceptance=["Every scheduled task is an event"],
    )
