"""The rule-based extraction and drafting, as plain functions."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berrys.core.enums import AgentType, CollaborationType, Priority, RequirementCategory
from berrys.services.agents import rules
from berrys.services.agents.contracts import AgentDraft, CollaborationDraft, TeamDraft
from berrys.services.agents.generation import normalise_team


def test_sentences_bullets_and_abbreviations():
    text = (
        "Build a web app, e.g. for booking. It must be fast!\n"
        "- export to CSV\n* import from Excel\n1. weekly summary; nice to have: dark mode"
    )
    assert rules.split_sentences(text) == [
        "Build a web app, e.g. for booking",
        "It must be fast",
        "export to CSV",
        "import from Excel",
        "weekly summary",
        "nice to have: dark mode",
    ]


def test_modal_verbs_set_the_priority():
    def priority(text):
        return rules.extract_requirements(text).requirements[0].priority

    assert priority("The data must be encrypted at rest.") == Priority.CRITICAL
    assert priority("Users must be able to log in.") == Priority.HIGH
    assert priority("It is essential that orders are never lost.") == Priority.CRITICAL
    assert priority("The page should load quickly.") == Priority.MEDIUM
    assert priority("We could add a dark mode.") == Priority.LOW
    assert priority("Build a booking app.") == Priority.HIGH
    assert priority("The colour is blue.") == Priority.MEDIUM


def test_categories():
    def category(text):
        return rules.extract_requirements(text).requirements[0].category

    assert category("It must sync with our existing CRM.") == RequirementCategory.INTEGRATION
    assert category("Pages must load fast and scale.") == RequirementCategory.NON_FUNCTIONAL
    assert category("Deploy it on Kubernetes with Terraform.") == RequirementCategory.TECHNICAL
    assert category("Handle GDPR requests for EU users.") == RequirementCategory.DOMAIN_SPECIFIC
    assert category("Coordinate with stakeholders weekly.") == RequirementCategory.COLLABORATION
    assert category("Customers can leave reviews.") == RequirementCategory.FUNCTIONAL


def test_confidence_is_honest():
    vague = rules.extract_requirements("Things happen.").requirements[0]
    clear = rules.extract_requirements(
        "The API must be secure and integrate with Stripe webhooks."
    ).requirements[0]
    assert vague.confidence <= 0.3
    assert clear.confidence > vague.confidence
    assert clear.confidence <= 0.8


def test_a_coordinator_only_for_teams_over_one_and_an_auditor_for_security():
    solo = rules.draft_team(rules.extract_requirements("Design a logo.").requirements)
    assert [a.agent_type for a in solo.agents] == [AgentType.DESIGNER]
    pair = rules.draft_team(
        rules.extract_requirements("Build an app. Customer data must be protected.").requirements
    )
    assert [a.agent_type for a in pair.agents] == [
        AgentType.COORDINATOR,
        AgentType.DEVELOPER,
        AgentType.AUDITOR,
    ]
    reviews = {(e.from_agent, e.to_agent) for e in pair.collaboration if e.interaction == "REVIEWS"}
    assert reviews == {("Auditor", "Developer")}


def test_at_most_two_specialists_named_by_domain():
    text = (
        "Run a marketing campaign. Train a machine learning model to predict churn. "
        "Compose music for the ad. Check the tax rules."
    )
    team = rules.draft_team(rules.extract_requirements(text).requirements)
    specialists = [a.name for a in team.agents if a.agent_type == AgentType.SPECIALIST]
    assert len(specialists) == 2
    assert all(name.endswith("Specialist") for name in specialists)


def test_normalising_an_answer_enforces_the_invariants():
    requirements = rules.extract_requirements(
        "Build a web shop. Payments must be PCI compliant."
    ).requirements
    answer = TeamDraft(
        agents=[
            AgentDraft(name="Dev", agent_type="DEVELOPER", role="dev", requirement_ids=[1, 9]),
            AgentDraft(name="Dev", agent_type="DESIGNER", role="design", prompt_template="{% x"),
        ],
        collaboration=[
            CollaborationDraft(from_agent="Dev", to_agent="Ghost", interaction="HANDS_OFF")
        ],
    )
    team, notes = normalise_team(answer, requirements)
    types = [a.agent_type for a in team.agents]
    assert types[0] == AgentType.COORDINATOR
    assert AgentType.AUDITOR in types
    assert [a.name for a in team.agents].count("Dev") == 1
    assert team.agents[1].requirement_ids == [1]
    assert team.agents[2].prompt_template == rules.DEFAULT_PROMPT
    assert any(e.interaction == CollaborationType.DELEGATES for e in team.collaboration)
    assert len(notes) >= 4


def test_a_valid_answer_is_left_alone():
    requirements = rules.extract_requirements("Write a blog post.").requirements
    answer = TeamDraft(
        agents=[AgentDraft(name="Writer", agent_type="ASSISTANT", role="w", requirement_ids=[1])]
    )
    team, notes = normalise_team(answer, requirements)
    assert notes == []
    assert [a.name for a in team.agents] == ["Writer"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=600))
def test_any_text_gives_valid_requirements_and_a_valid_team(text):
    requirements = rules.extract_requirements(text).requirements
    for requirement in requirements:
        assert requirement.text.strip()
        assert 0 < requirement.confidence <= 0.8
    if requirements:
        team = rules.draft_team(requirements)
        assert team.agents
        normalised, notes = normalise_team(team, requirements)
        assert notes == []
        assert len({a.name for a in normalised.agents}) == len(normalised.agents)
