"""Normalising any team answer (a model's or the catalogue's) to the team's invariants."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berrys.services.agents import _rules
from berrys.services.agents._generation import normalise_team
from berrys.services.agents.contracts import (
    AgentDraft,
    CollaborationDraft,
    CollaborationType,
    RequirementDraft,
    TeamDraft,
)
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import AgentType

REQUIREMENTS = [
    RequirementDraft(text=text, category=category, priority="HIGH", confidence=0.9)
    for text, category in (("Build a web shop", "FUNCTIONAL"), ("Safe card data", "TECHNICAL"))
]
GUIDE = TeamDraft(
    agents=[AgentDraft(name="Shop Lead", agent_type="COORDINATOR", role="lead")], collaboration=[]
)


def test_normalising_an_answer_enforces_the_invariants():
    answer = TeamDraft(
        agents=[
            AgentDraft(name="Dev", agent_type="DEVELOPER", role="dev", requirement_ids=[1, 9]),
            AgentDraft(name="Dev", agent_type="DESIGNER", role="design", prompt_template="{% x"),
            AgentDraft(name="QA", agent_type="AUDITOR", role="qa"),
        ],
        collaboration=[
            CollaborationDraft(from_agent="Dev", to_agent="Ghost", interaction="HANDS_OFF")
        ],
    )
    team, notes = normalise_team(answer, REQUIREMENTS, guide=GUIDE)
    types = [a.agent_type for a in team.agents]
    assert types[0] == AgentType.COORDINATOR
    assert [a.name for a in team.agents].count("Dev") == 1
    assert team.agents[1].requirement_ids == [1]
    assert team.agents[2].prompt_template == _rules.DEFAULT_PROMPT
    assert any(e.interaction == CollaborationType.DELEGATES for e in team.collaboration)
    assert len(notes) >= 4


def test_a_valid_answer_is_left_alone():
    answer = TeamDraft(
        agents=[AgentDraft(name="Writer", agent_type="ASSISTANT", role="w", requirement_ids=[1])]
    )
    team, notes = normalise_team(answer, REQUIREMENTS, guide=GUIDE)
    assert notes == []
    assert [a.name for a in team.agents] == ["Writer"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=600)
)
def test_any_text_gets_a_catalogue_team_that_needs_no_repair(text):
    understood = catalogue.draft(catalogue.shipped(), text, types=[])
    team = catalogue.team_draft(understood)
    assert team.agents
    requirements = [
        RequirementDraft(text=r.text, category=r.category, priority=r.priority, confidence=0.5)
        for r in understood.requirements
    ]
    normalised, notes = normalise_team(team, requirements, guide=team)
    assert all("renamed" not in note for note in notes)
    assert len({a.name for a in normalised.agents}) == len(normalised.agents)
