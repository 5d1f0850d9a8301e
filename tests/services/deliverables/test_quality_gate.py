"""The quality gate for a model's draft: a good draft passes clean; loops, echoes, one-liners
and off-topic text fail; invented numbers, names and links are flagged for a person, and fail
only when they pile up."""

from __future__ import annotations

import pytest
from tests.services.deliverables.conftest import shipped

from berrys.services.catalogue.contracts import ProjectFacts
from berrys.services.deliverables import service as deliverables

FACTS = ProjectFacts(
    title="Elmfield repair café",
    description=(
        "Organise a one-day repair café in Elmfield village hall on Saturday 6 June 2027 for "
        "about 40 people, with volunteer fixers, tea and cake."
    ),
)
GOOD = """# Venue brief: Elmfield repair café

## Event at a glance
- Elmfield repair café: volunteer fixers mend things people bring, with tea and cake
- Date: Saturday 6 June 2027, one day; TODO(organiser): a fallback date
- About 40 people, plus the fixers and helpers

## What the venue must offer
- Capacity for about 40 people plus helpers and walk-ins
- Step-free access to the entrance, the hall and an accessible toilet
- Enough tables and power sockets for the fixers, with safe cable runs

## Confirm in writing before booking
- Public liability insurance: the hall's own, or whether we need our own cover
- Fire exits, the assembly point and who holds the fire procedure on the day
- Where the first aid kit is and whether the hall provides a first aider

## Shortlist
Elmfield village hall is the first choice. TODO(organiser): the hall's contact and hire
cost, and a second venue in case it is booked.

## Decision and booking
TODO(organiser): the date the booking was confirmed in writing, and where it is kept.
"""


def _gate(text: str, facts: ProjectFacts = FACTS):
    venue = shipped("venue_brief")
    prompt = deliverables.model_prompt(venue, facts)
    return deliverables.gate(text, deliverable=venue, facts=facts, prompt=prompt)


def _checks(result) -> dict[str, str]:
    return {finding.check: finding.severity for finding in result.findings}


def test_a_good_draft_passes_clean():
    result = _gate(GOOD)
    assert result.passed
    assert result.findings == []
    assert result.metrics["duplicate_lines"] == 0
    assert result.metrics["distinct_4grams"] > 0.9


def test_a_good_draft_titled_as_the_prompt_asks_passes_clean():
    # The prompt asks for “Venue brief and booking checklist: Elmfield repair café”; its
    # title line is no echo of the instructions.
    title = "# Venue brief and booking checklist: Elmfield repair café"
    result = _gate(GOOD.replace("# Venue brief: Elmfield repair café", title))
    assert result.passed
    assert result.findings == []


@pytest.mark.parametrize(
    "text",
    [
        "# Venue brief\n\n" + "- Scope:\n" * 62,
        "# Venue brief\n\n" + "Your plan is finished. " * 36,
        GOOD + "\n" + GOOD.split("## Confirm")[1] * 4,
    ],
    ids=["a line", "a sentence", "a section"],
)
def test_loops_fail(text):
    result = _gate(text)
    assert not result.passed
    assert _checks(result)["repetition"] == "fail"
    assert result.reasons[0].startswith("Repeats itself")


def test_an_echoed_prompt_or_its_instructions_fail():
    venue = shipped("venue_brief")
    prompt = deliverables.model_prompt(venue, FACTS)
    echoed = _gate(prompt)
    assert not echoed.passed
    assert _checks(echoed)["echo"] == "fail"
    rules = GOOD + "\nUse only the facts above: every name, number, date, price, place, link.\n"
    result = _gate(rules)
    assert not result.passed
    assert any(
        r.startswith("Copies the instructions: “use only the facts above") for r in result.reasons
    )


def test_a_one_liner_and_another_projects_text_fail():
    short = _gate("# Venue brief\n\nEverything is booked. See you there!\n")
    assert _checks(short)["length"] == "fail"
    bakery = ProjectFacts(title="Crumb & Co bakery website launch", description="A bakery site")
    other = _gate(GOOD, facts=bakery)
    assert not other.passed
    assert "Off-topic: never mentions crumb, bakery" in other.reasons


def test_invented_numbers_names_and_links_are_flagged_not_failed():
    text = GOOD.replace(
        "Elmfield village hall is the first choice.",
        "Councillor Margaret Okafor recommends the Westbrook Pavilion at £85 a day, "
        "see https://westbrook-pavilion.example.org.",
    )
    result = _gate(text)
    assert result.passed  # kept: a person looks at it
    assert _checks(result)["unsupported"] == "review"
    reasons = " | ".join(result.reasons)
    assert "Numbers the brief does not give: £85" in reasons
    assert "Names the brief does not give: Councillor Margaret Okafor, Westbrook Pavilion" in (
        reasons
    )
    assert "Links the brief does not give: https://westbrook-pavilion.example.org" in reasons
    # A capital that only starts a sentence is not taken for a name.
    assert _gate(GOOD + "\nEverything else is as the brief says.\n").findings == []


def test_a_pile_of_inventions_fails():
    invented = (
        "\nDoors open at 10:30 on 17 May for 250 guests at £12.50 each; 85% came back.\n"
        "Speakers: John Miller and Sarah Johnson from https://a.example.com and "
        "https://b.example.com and https://c.example.com.\n"
    )
    result = _gate(GOOD + invented)
    assert not result.passed
    assert any(r.startswith("Makes up") for r in result.reasons)


def test_numbers_and_names_the_brief_gives_are_fine_and_small_counts_are_not_claims():
    text = GOOD.replace(
        "Elmfield village hall is the first choice.",
        "Elmfield village hall is the first choice; we need 3 long tables and 2 urns.",
    )
    assert _gate(text).findings == []


def test_a_missing_section_or_term_is_flagged_and_most_sections_missing_fails():
    no_shortlist = GOOD.replace("## Shortlist", "## Other notes")
    result = _gate(no_shortlist)
    assert result.passed
    assert "Missing sections: Shortlist" in result.reasons
    no_fire = GOOD.replace("Fire exits", "Exits").replace("fire procedure", "procedure")
    assert any("fire (Confirm in writing before booking)" in r for r in _gate(no_fire).reasons)
    prose = " ".join(line for line in GOOD.splitlines() if not line.startswith("#"))
    flat = _gate("# Venue brief: Elmfield repair café\n\n" + prose)
    assert not flat.passed
    assert _checks(flat)["structure"] == "fail"


def test_an_unmarked_placeholder_is_flagged_but_a_todo_is_not():
    result = _gate(GOOD.replace("a fallback date", "a fallback date") + "\nCaterer: TBD\n")
    assert any("TBD" in r for r in result.reasons)
    assert _gate(GOOD).findings == []


def test_a_table_missing_its_columns_fails():
    budget = shipped("budget")
    prompt = deliverables.model_prompt(budget, FACTS)
    lines = [
        "Hall hire for the Elmfield repair café, one day, from the village hall's price list",
        "Tea, cake and cups for about 40 people and the volunteer fixers on the day",
        "Printing posters and leaflets for the village noticeboards and the shop window",
    ]
    body = "\n".join(f"{line},Venue,1,0,0," for line in lines)
    header = ",".join(column.name for column in budget.columns)
    whole = deliverables.gate(f"{header}\n{body}\n", deliverable=budget, facts=FACTS, prompt=prompt)
    assert "structure" not in _checks(whole)
    cut = deliverables.gate(
        f"Item,Category\n{body}\n", deliverable=budget, facts=FACTS, prompt=prompt
    )
    assert _checks(cut)["structure"] == "fail"
    assert "Missing columns: Quantity, Unit cost, Total, Notes" in cut.reasons
