"""Similarity search over what a user may see: projects, tasks, agent templates and tools.

Each service answers for its own visibility (the search only reads through their interfaces);
texts are ranked with the scoring tool discovery uses, on the platform's embedder.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.services.agents import service as agents
from berrys.services.auth.contracts import UserOut
from berrys.services.llm import service as llm
from berrys.services.planning import service as planning
from berrys.services.projects import service as projects
from berrys.services.search.contracts import SearchHit, SearchKind, SearchResult
from berrys.services.tools import service as tools

__all__ = ["EMBED_BUDGET_SECONDS", "similar"]

_log = structlog.get_logger("berrys.search")

# A request spends about this long embedding texts it has never seen; the rest are scored
# on words and embedded in the background.
EMBED_BUDGET_SECONDS = 1.0
# The most items of one kind a query considers (the newest projects first).
MAX_CANDIDATES = 10_000
SNIPPET = 300
MAX_SCORE = llm.WORD_MATCH_MAX + llm.SEMANTIC_WEIGHT


@dataclass(frozen=True)
class _Candidate:
    kind: SearchKind
    id: uuid.UUID
    name: str
    description: str
    text: str
    project_id: uuid.UUID | None = None


async def _projects(session: AsyncSession, user: UserOut) -> list[_Candidate]:
    items, _ = await projects.get_all(session, user=user, limit=MAX_CANDIDATES, offset=0)
    return [
        _Candidate(
            SearchKind.PROJECT, p.id, p.name, p.description, f"{p.name}. {p.description}", p.id
        )
        for p in items
    ]


async def _tasks(session: AsyncSession, user: UserOut) -> list[_Candidate]:
    """Tasks of each visible project's current plan (older versions would repeat them)."""
    return [
        _Candidate(
            SearchKind.TASK,
            t.id,
            t.name,
            t.description,
            ". ".join(filter(None, [t.name, t.description, ", ".join(t.required_skills)])),
            project_id,
        )
        for project_id, t in (await planning.current_tasks(session, user=user))[:MAX_CANDIDATES]
    ]


async def _agent_templates(session: AsyncSession, user: UserOut) -> list[_Candidate]:
    items, _ = await agents.get_templates(session, user=user, limit=MAX_CANDIDATES, offset=0)
    return [
        _Candidate(
            SearchKind.AGENT_TEMPLATE,
            t.id,
            t.name,
            t.description,
            ". ".join(filter(None, [t.name, t.agent_type, t.description, ", ".join(t.tags)])),
        )
        for t in items
    ]


async def _tools(session: AsyncSession, user: UserOut) -> list[_Candidate]:
    """Every registered tool: the registry is readable by every user."""
    items, _ = await tools.get_all(session, limit=MAX_CANDIDATES, offset=0)
    return [
        _Candidate(
            SearchKind.TOOL,
            t.id,
            t.name,
            t.description,
            " ".join([t.name, t.description, *t.capabilities, *t.categories]),
        )
        for t in items
    ]


_SOURCES = {
    SearchKind.PROJECT: _projects,
    SearchKind.TASK: _tasks,
    SearchKind.AGENT_TEMPLATE: _agent_templates,
    SearchKind.TOOL: _tools,
}


def _hit(
    candidate: _Candidate, score: float, similarity: float | None, reasons: list[str]
) -> SearchHit:
    return SearchHit(
        kind=candidate.kind,
        id=candidate.id,
        name=candidate.name,
        description=candidate.description[:SNIPPET],
        project_id=candidate.project_id,
        score=round(min(1.0, score / MAX_SCORE), 4),
        similarity=None if similarity is None else round(similarity, 4),
        reasons=reasons,
    )


async def _similarities(
    database: Database,
    models: llm.Runtime,
    embedder: llm.Embedder,
    q: str,
    texts: list[str],
    budget: float | None,
) -> tuple[list[float | None], str | None]:
    """Each text's similarity to ``q`` and the embedder's name; what ``budget`` left
    unembedded is queued in the background. None for all when the embedder fails."""
    try:
        similarities, missing = await llm.similarities(
            q, texts, source=embedder.name, embed=embedder.embed, budget=budget, database=database
        )
    except Exception as exc:  # words still rank when the embedder fails
        _log.warning("search.embeddings_failed", error=str(exc))
        return [None] * len(texts), None
    if missing:
        llm.warm_later(
            models, missing, source=embedder.name, embed=embedder.embed, database=database
        )
    return similarities, embedder.name


async def similar(
    database: Database,
    *,
    user: UserOut,
    q: str,
    kinds: Sequence[SearchKind],
    limit: int,
    offset: int,
    budget: float | None,
    embedder: llm.Embedder | None,
    models: llm.Runtime,
) -> SearchResult:
    """Hits for ``q`` among the ``kinds`` of item ``user`` may see, best first.

    ``budget`` bounds the seconds spent embedding unseen texts (None: embed them all; the
    rest are embedded in the background of ``models``); without ``embedder`` the words
    alone rank.
    """
    if SearchKind.AGENT_TEMPLATE in kinds:  # system templates are seeded on first use
        await agents.ensure_seeded(database)
    candidates: list[_Candidate] = []
    async with database.transaction(read_only=True) as session:
        for kind in kinds:
            candidates += await _SOURCES[kind](session, user)
    query_words = llm.words(q)
    similarities: list[float | None] = [None] * len(candidates)
    model: str | None = None
    if candidates and embedder is not None:
        similarities, model = await _similarities(
            database, models, embedder, q, [c.text for c in candidates], budget
        )
    spread = llm.relative(similarities)
    scored: list[tuple[float, float | None, _Candidate, list[str]]] = []
    for candidate, similarity, weight in zip(candidates, similarities, spread.weights, strict=True):
        score, reasons = llm.word_match(query_words, q, candidate.text)
        if weight > 0 and similarity is not None:
            score += llm.SEMANTIC_WEIGHT * weight
            reasons.append(spread.reason(similarity))
        if score > 0:
            scored.append((score, similarity, candidate, reasons))
    scored.sort(key=lambda s: (-s[0], -(s[1] or 0.0), s[2].name, s[2].id))
    return SearchResult(
        # Only the page becomes contracts: validating every hit cost more than ranking them.
        items=[_hit(c, score, sim, why) for score, sim, c, why in scored[offset : offset + limit]],
        total=len(scored),
        model=model,
        pending=0 if model is None else sum(s is None for s in similarities),
    )
