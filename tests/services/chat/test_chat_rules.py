"""The rules beneath the model: deterministic intents from plain sentences."""

from __future__ import annotations

import pytest

from berrys.core.enums import ChatIntent
from berrys.services.chat.intents import by_rules, mentioned_project

I = ChatIntent  # noqa: E741


@pytest.mark.parametrize(
    ("text", "intent", "name", "description"),
    [
        (
            "Create a project called Bakery Site to build a website for my bakery",
            I.CREATE_PROJECT,
            "Bakery Site",
            "build a website for my bakery",
        ),
        (
            'create a new project named "Shop" for selling shoes.',
            I.CREATE_PROJECT,
            "Shop",
            "for selling shoes",
        ),
        ("Start a project called Garden Planner", I.CREATE_PROJECT, "Garden Planner", None),
        ("Make a project to track my running", I.CREATE_PROJECT, None, "track my running"),
    ],
)
def test_create_project_takes_the_name_and_description_verbatim(text, intent, name, description):
    result = by_rules(text)
    assert (result.intent, result.project_name, result.description) == (intent, name, description)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("now plan it", I.PLAN),
        ("Can you make a schedule?", I.PLAN),
        ("how is it going?", I.STATUS),
        ("What's the status?", I.STATUS),
        ("generate the team", I.GENERATE_TEAM),
        ("who should work on this? propose some agents", I.GENERATE_TEAM),
        ("start it", I.START_RUN),
        ("start the project", I.START_RUN),
        ("Run the project please", I.START_RUN),
        ("approve", I.APPROVE),
        ("reject: too expensive", I.REJECT),
        ("help", I.HELP),
        ("What can you do?", I.HELP),
        ("hello there", I.SMALL_TALK),
        ("yes", I.SMALL_TALK),  # nothing was asked
    ],
)
def test_intents(text, intent):
    assert by_rules(text).intent == intent


def test_yes_and_no_answer_a_pending_question():
    assert by_rules("yes please", pending=True).intent == I.CONFIRM
    assert by_rules("Go ahead", pending=True).intent == I.CONFIRM
    assert by_rules("no, leave it", pending=True).intent == I.CANCEL


def test_a_named_project_is_recognised_longest_first():
    names = ["Bakery", "Bakery Site"]
    assert mentioned_project("plan bakery site please", names) == "Bakery Site"
    assert by_rules("how is Bakery going?", project_names=names).project_name == "Bakery"
    assert mentioned_project("plan it", names) is None
