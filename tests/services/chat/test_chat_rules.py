"""The rules beneath the model: deterministic intents from plain sentences."""

from __future__ import annotations

import pytest

from berrys.services.chat import _intents
from berrys.services.chat._intents import by_rules, mentioned_project
from berrys.services.chat.contracts import ChatIntent, IntentResult

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


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("which tasks are on the critical path?", "critical_path"),
        ("when will it be done?", "critical_path"),
        ("what did the Designer write?", "artifacts"),
        ("show me the designer's output", "artifacts"),
        ("what is waiting for me?", "waiting"),
        ("any approvals for me?", "waiting"),
        ("what needs my review", "waiting"),
        ("what has it cost?", "cost"),
        ("how much did the designer cost?", "cost"),
        ("why is this task high-risk?", "risk"),
        ("how is it going?", "overview"),
        ("What's the status?", "overview"),
        ("who is on the team?", "team"),
        ("could you show me the team", "team"),
        ("what is the plan?", "plan"),
        ("can you tell me the schedule?", "plan"),
        ("how many tasks are there?", "plan"),
        ("what are the requirements?", "requirements"),
        ("critical path", "critical_path"),
    ],
)
def test_questions_are_status_with_what_they_ask(text, question):
    result = by_rules(text)
    assert (result.intent, result.question) == (I.STATUS, question)


@pytest.mark.parametrize(
    "text",
    [
        "which tasks are on the critical path?",
        "what is the plan?",
        "who is on the team?",
        "what did the last run produce?",
        "should we start the run?",
        "why was the plan redrafted?",
        "is the team ready to start?",
        "what would it cost to run it again?",
        "when does the launch begin?",
        "did you generate the agents?",
        "did you create a project called Foo?",
        "can you tell me how to plan it?",
        "the plan looks good",
        "plan",
        "tasks",
        "milestones?",
    ],
)
def test_a_question_is_never_an_action(text):
    assert by_rules(text).intent not in _intents.ACTIONS
    assert by_rules(text, pending=True).intent not in (*_intents.ACTIONS, I.CONFIRM)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Can you make a schedule?", I.PLAN),
        ("could you plan it?", I.PLAN),
        ("please replan", I.PLAN),
        ("redraft the plan", I.PLAN),
        ("break it down", I.PLAN),
        ("is the team ready? then start it", I.START_RUN),
        ("let's start", I.START_RUN),
        ("regenerate the team", I.GENERATE_TEAM),
        ("I want a new project called Foo to sell shoes", I.CREATE_PROJECT),
    ],
)
def test_a_request_in_words_is_an_action(text, intent):
    assert by_rules(text).intent == intent


def test_ok_before_a_question_is_not_a_yes():
    assert by_rules("ok, what is the plan now?", pending=True).intent == I.STATUS
    assert by_rules("sure, but what will it cost?", pending=True).intent == I.STATUS
    assert by_rules("ok", pending=True).intent == I.CONFIRM


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("what did the Designer write?", "Designer"),
        ("what's the designer's output", "designer"),
        ("Why is 'Build: payments' high risk?", "Build: payments"),
        ("why is this task high-risk?", None),
        ("what has it cost?", None),
    ],
)
def test_the_subject_of_a_question(text, subject):
    assert by_rules(text).subject == subject


def test_a_models_action_on_a_question_is_overruled():
    question = "which tasks are on the critical path?"
    rules = by_rules(question)
    eager = IntentResult(intent=I.PLAN)
    assert _intents.reconcile(eager, rules, question) is rules
    request = "plan it again"
    assert _intents.reconcile(eager, by_rules(request), request) is None
    vague = IntentResult(intent=I.STATUS)
    assert _intents.reconcile(vague, rules, question).question == "critical_path"
    assert IntentResult(intent=I.STATUS, question="Critical path").question == "critical_path"
    assert IntentResult(intent=I.STATUS, question="weather").question is None
