"""Which project types a description is: the catalogue's signals together with the local
embedder's similarity to each type's examples.

Signals decide (a type needs one of its strong terms, or a very close example, to be chosen);
similarity ranks and breaks ties. A description matching two types well (a website and its
launch campaign) gets both; one matching nothing well gets none, and the caller falls back to
the generic breakdown.
"""

from __future__ import annotations

import asyncio
import statistics
import weakref
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from berrys.services.catalogue import _text
from berrys.services.catalogue._catalogue import Catalogue
from berrys.services.catalogue._text import matched, matched_spans
from berrys.services.catalogue.contracts import ProjectType, TypeMatch
from berrys.services.llm import service as llm

STRONG, WEAK, NEGATIVE = 1.0, 0.3, 0.8
# e5 cosines of any two short project descriptions sit between 0.80 and 0.92, so similarity
# counts relative to the other types: its z-score among them, each standard deviation above
# the mean worth half a strong signal. A type far nearer than the rest (z >= CLEAR) may be
# chosen on similarity alone.
SIMILARITY_WEIGHT = 0.5
CLEAR = 2.5
WEAK_ONLY = 1.2  # the score a type with supporting signals only needs
BLEND_RATIO = 0.4  # a second type is blended in when it scores this share of the best
MAX_TYPES = 3

# Each type's examples as unit rows, per embedder, type and version: a description's
# similarity to them is one matrix product.
_vectors: dict[tuple[str, str, int], NDArray[np.float64]] = {}
# The examples are embedded once per process: the first calls at once (a server's first
# teams) wait for one embedding of them rather than each making its own.
_embedding: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class Evidence:
    project_type: ProjectType
    strong: list[str]
    weak: list[str]
    negative: list[str]
    similarity: float
    z: float  # the similarity's standard score among all types

    @property
    def signal_score(self) -> float:
        return (
            STRONG * min(len(self.strong), 3)
            + WEAK * min(len(self.weak), 4)
            - NEGATIVE * len(self.negative)
        )

    @property
    def score(self) -> float:
        return self.signal_score + SIMILARITY_WEIGHT * max(self.z, 0.0)

    @property
    def eligible(self) -> bool:
        """A strong signal, or several supporting ones well ahead of chance, or examples far
        nearer than any other type's together with a signal of its own."""
        if self.negative and not self.strong:
            return False
        if self.strong:
            return self.score > 0.9
        return (len(self.weak) >= 2 and self.score >= WEAK_ONLY) or (
            bool(self.weak) and self.z >= CLEAR
        )


def _unit_rows(vectors: list[list[float]]) -> NDArray[np.float64]:
    rows = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms == 0, 1, norms)


async def _example_vectors(
    models: llm.Runtime, catalogue: Catalogue
) -> tuple[str, dict[str, NDArray[np.float64]]]:
    """Each type's example vectors, embedded once per embedder and type version."""
    model = (await llm.embed(models, texts=[])).model  # which embedder, with nothing to embed
    async with _embedding.setdefault(asyncio.get_running_loop(), asyncio.Lock()):
        missing = [t for t in catalogue.types.values() if (model, t.key, t.version) not in _vectors]
        if missing:
            texts = [_text for t in missing for _text in (t.summary, *t.examples)]
            vectors = (await llm.embed(models, texts=texts)).vectors
            for t in missing:
                count = 1 + len(t.examples)
                _vectors[(model, t.key, t.version)] = _unit_rows(vectors[:count])
                vectors = vectors[count:]
    return model, {t.key: _vectors[(model, t.key, t.version)] for t in catalogue.types.values()}


async def prepare(models: llm.Runtime, catalogue: Catalogue) -> None:
    """Embed the types' examples now, not on the first description (a server's first chat
    waited for the embedder's load and every example)."""
    await _example_vectors(models, catalogue)


async def evidence(models: llm.Runtime, description: str, catalogue: Catalogue) -> list[Evidence]:
    """Every type's evidence for ``description``, best first."""
    _, examples = await _example_vectors(models, catalogue)
    query = _unit_rows((await llm.embed(models, texts=[description])).vectors)[0]
    # Matching every type's terms is pure CPU (a regex per term, 10-20 ms): in a thread, so
    # that the event loop goes on serving meanwhile.
    types = list(catalogue.types.values())
    return await asyncio.to_thread(_weigh, description, types, examples, query)


def _weigh(
    description: str,
    types: list[ProjectType],
    examples: dict[str, NDArray[np.float64]],
    query: NDArray[np.float64],
) -> list[Evidence]:
    similarity = {t.key: float(np.max(examples[t.key] @ query)) for t in types}
    mean = statistics.fmean(similarity.values())
    spread = statistics.pstdev(similarity.values()) or 1.0
    found = []
    for t in types:
        strong, owned = _strong(description, t)
        found.append(
            Evidence(
                project_type=t,
                strong=strong,
                weak=[*owned, *matched(description, t.signals.weak)],
                negative=matched(description, t.signals.negative),
                similarity=similarity[t.key],
                z=(similarity[t.key] - mean) / spread,
            )
        )
    return sorted(found, key=lambda e: -e.score)


def _strong(description: str, project_type: ProjectType) -> tuple[list[str], list[str]]:
    """(strong signals, those that only support): "our Rails app" is what the work is on, so
    it counts as weak for a type that builds such things; "for my parents' anniversary" is
    the occasion, weak for every type."""

    def supports(span: tuple[int, int]) -> bool:
        return _text.occasion(description, span) or (
            not project_type.works_on_existing and _text.owned(description, span)
        )

    spans = matched_spans(description, project_type.signals.strong)
    weak = [t for t, found in spans.items() if all(supports(s) for s in found)]
    return [t for t in spans if t not in weak], weak


def choose(found: list[Evidence]) -> list[TypeMatch]:
    """The types to plan with: the best eligible one, and others close behind it."""
    eligible = [e for e in found if e.eligible]
    if not eligible:
        return []
    lead = eligible[0]
    said = {*lead.strong, *lead.weak}
    blended = [
        e
        for e in eligible[1:]
        if e.score >= BLEND_RATIO * lead.score
        and _own_evidence(e, said)
        and (e.project_type.works_on_existing or not lead.project_type.works_on_existing)
    ]
    chosen = [lead, *blended[: MAX_TYPES - 1]]
    total = sum(max(e.score, 0.0) for e in found[:5]) or 1.0
    return [
        TypeMatch(
            key=e.project_type.key,
            name=e.project_type.name,
            confidence=round(min(0.99, max(e.score, 0.0) / total + 0.25 * bool(e.strong)), 2),
            similarity=round(e.similarity, 3),
            signals=[*e.strong, *e.weak],
        )
        for e in chosen
    ]


def _own_evidence(found: Evidence, said: set[str]) -> bool:
    """Words of its own, not only the lead's: a strong one, or two that support it (a tool
    that "managers see a weekly summary" from is no data pipeline on "weekly" alone)."""
    own_strong = set(found.strong) - said
    return bool(own_strong) or len(set(found.weak) - said) >= 2


async def classify(models: llm.Runtime, description: str, catalogue: Catalogue) -> list[TypeMatch]:
    """The project types of ``description``, best first (empty: nothing fits)."""
    return choose(await evidence(models, description, catalogue))
