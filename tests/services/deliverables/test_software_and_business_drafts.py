"""Offline drafts of software and business projects, read as the person who described the
project would: what the description says is not asked again, what it asks for is covered,
and a stack the scaffold does not generate is named as still to do."""

from __future__ import annotations

from tests.services.deliverables.conftest import code_type

from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import Constraint, ProjectFacts
from berrys.services.deliverables import service as deliverables

BUDGET = Constraint(dimension="budget", value=40000, unit="USD", text="$40,000")


def _draft_text(key: str, facts: ProjectFacts) -> str:
    deliverable = catalogue.deliverable_for(catalogue.shipped(), key, facts.description)
    assert deliverable is not None
    draft = deliverables.draft_offline(deliverable, facts, source="Berrys")
    assert deliverables.check(deliverable, draft, facts=facts) == []
    return draft.primary.text


def test_a_stated_budget_is_not_asked_for_again_and_a_missing_one_is():
    stated = ProjectFacts(
        title="Oat-milk launch",
        description="A spring campaign for our new oat-milk flavour, budget $40,000",
        constraints=[BUDGET],
    )
    unstated = stated.model_copy(update={"description": "A spring campaign", "constraints": []})
    briefs = ("campaign_brief", "technical_spec", "project_brief")
    for key in (*briefs, "grant_narrative", "funder_fit_assessment"):
        text = _draft_text(key, stated)
        assert "- Budget: $40,000" in text, key
        assert "who approves spending" not in text, key
        assert "budget limit" not in text
        assert "Total budget" not in text
        assert "Amount to request" not in text
        assert "Amount requested" not in text
        missing = _draft_text(key, unstated)
        assert "The budget, and who approves spending" in missing, key
    assert "TODO(client): The launch date" in _draft_text("campaign_brief", stated)


def test_a_security_review_covers_the_tests_the_description_asks_for():
    asked = ProjectFacts(
        title="Customer portal review",
        description="Security review of our portal: pen test, dependency scan, and how we "
        "store passwords",
    )
    text = _draft_text("technical_security_review", asked)
    assert "salted hashes from a slow algorithm (Argon2id, scrypt or bcrypt)" in text
    assert "Dependencies scanned for known vulnerabilities on every build" in text
    assert "A penetration test by a qualified tester" in text
    plain = asked.model_copy(update={"description": "Review our office IT against ISO 27001"})
    text = _draft_text("technical_security_review", plain)
    assert "Argon2id" not in text
    assert "penetration test by" not in text


def test_a_scaffold_names_the_stack_it_stands_in_for(library):
    django = library.model_copy(
        update={"description": "A web app to track book loans and members. Stack is Django"}
    )
    draft = deliverables.draft_offline(code_type(), django, source="Web app")
    assert (
        "TODO(developer): The description names Django: this scaffold is Flask, a stand-in "
        "whose records, routes and tests are to be ported to Django"
    ) in draft.todos
    assert deliverables.check(code_type(), draft) == []
    own = deliverables.draft_offline(code_type(), library, source="Web app")
    assert not any("stand-in" in todo for todo in own.todos)
    swift = library.model_copy(update={"description": "A swift turnaround on a loans tracker"})
    assert not any(
        "stand-in" in t for t in deliverables.draft_offline(code_type(), swift, source="x").todos
    )


def test_a_job_s_stated_place_of_work_is_quoted_not_asked():
    berlin = "Hire two senior backend engineers for our fintech team in Berlin"
    stated = ProjectFacts(
        title="Backend hires", description=berlin, particulars=catalogue.particulars(berlin)
    )
    unstated = ProjectFacts(title="Backend hires", description="Hire a backend engineer")
    for key, asked in (
        ("hiring_compliance_checklist", "where the person will work"),
        ("job_description", "The place of work"),
    ):
        text = _draft_text(key, stated)
        assert "- Where, as described: Berlin" in text, key
        assert asked not in text, key
        assert asked in _draft_text(key, unstated), key
