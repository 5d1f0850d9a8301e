"""Discovery: rank registered tools and configured MCP servers for a capability or a text.

Capability and word matching always work; semantic similarity is added when the caller
gives an embedder (the application's: Model Orchestration's default embedder). Every
candidate carries the reasons for its score.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.errors import NotFound
from berrys.services.auth.contracts import UserOut, UserRole
from berrys.services.llm import service as llm
from berrys.services.tools.contracts import (
    Candidate,
    DiscoverRequest,
    DiscoverResult,
    DiscoveryOut,
    ToolStatus,
)
from berrys.services.tools.tables import McpServer, Tool, ToolDiscovery

_log = structlog.get_logger("berrys.tools.discovery")


def _tool_text(tool: Tool) -> str:
    return " ".join(
        [tool.name, tool.description or "", *(tool.capabilities or []), *(tool.categories or [])]
    )


def _score_tool(
    tool: Tool, capability: str | None, query_words: list[str], query: str | None
) -> tuple[float, list[str]]:
    score, reasons = 0.0, []
    capabilities = [c.lower() for c in tool.capabilities or []]
    text = _tool_text(tool).lower()
    if capability:
        cap = capability.strip().lower()
        if cap in capabilities:
            score += 1.0
            reasons.append(f"capability {cap!r} matches exactly")
        elif any(cap in c or c in cap for c in capabilities):
            near = next(c for c in capabilities if cap in c or c in cap)
            score += 0.6
            reasons.append(f"capability {cap!r} partly matches {near!r}")
        elif cap in text:
            score += 0.4
            reasons.append(f"{cap!r} appears in the name or description")
        else:
            cap_words = set(llm.words(cap))
            shared = cap_words & set(llm.words(text))
            if shared:
                score += 0.3 * len(shared) / len(cap_words)
                reasons.append(f"capability words {sorted(shared)} appear in the tool")
    matched, why = llm.word_match(query_words, query, text)
    return score + matched, reasons + why


def _apply_semantic(ranked: list[Candidate], similarities: list[float | None]) -> None:
    """A bonus for the tools most similar to the request, relative to the rest."""
    spread = llm.relative(similarities)
    for candidate, similarity, weight in zip(ranked, similarities, spread.weights, strict=True):
        if weight > 0 and similarity is not None:
            candidate.score += llm.SEMANTIC_WEIGHT * weight
            candidate.reasons.append(spread.reason(similarity))


async def discover(
    database: Database,
    *,
    request: DiscoverRequest,
    user: UserOut | None,
    embedder: llm.Embedder | None,
) -> DiscoverResult:
    """Rank candidates, store the request with its context and results, return them."""
    query_words = llm.words(request.query or "")
    async with database.transaction(read_only=True) as session:
        tools = list(await session.scalars(select(Tool).where(Tool.status != ToolStatus.REJECTED)))
        servers = list(await session.scalars(select(McpServer)))
    ranked = [_tool_candidate(tool, request, query_words) for tool in tools]
    semantic = await _add_semantic(database, embedder, ranked, tools, request)
    matched = [candidate for candidate in ranked if candidate.score > 0]
    for candidate in matched:
        _weigh_standing(candidate)
    if request.include_servers:
        registered = {tool.mcp_server_id for tool in tools if tool.mcp_server_id}
        request_words = set(query_words) | set(llm.words(request.capability or ""))
        matched += _server_candidates(servers, registered, request_words)
    matched.sort(key=lambda c: (-c.score, c.name))
    top = [c.model_copy(update={"score": round(c.score, 4)}) for c in matched[: request.limit]]
    return await _store(database, request, top, semantic=semantic, user=user)


def _tool_candidate(tool: Tool, request: DiscoverRequest, query_words: list[str]) -> Candidate:
    score, reasons = _score_tool(tool, request.capability, query_words, request.query)
    return Candidate(
        kind="TOOL",
        tool_id=tool.id,
        mcp_server_id=tool.mcp_server_id,
        name=tool.name,
        description=tool.description,
        score=score,
        reasons=reasons,
        status=ToolStatus(tool.status),
        evaluation_score=tool.score,
    )


async def _add_semantic(
    database: Database,
    embedder: llm.Embedder | None,
    ranked: list[Candidate],
    tools: list[Tool],
    request: DiscoverRequest,
) -> bool:
    """Add the similarity bonus when there is an embedder and it answers; whether it did."""
    text = " ".join(filter(None, [request.capability, request.query]))
    if embedder is None or not tools or not text:
        return False
    try:
        similarities, _ = await llm.similarities(
            text,
            [_tool_text(tool) for tool in tools],
            source=embedder.name,
            embed=embedder.embed,
            database=database,
        )
    except Exception as exc:  # embeddings are a bonus; matching works without them
        _log.warning("discovery.embeddings_failed", error=str(exc))
        return False
    _apply_semantic(ranked, similarities)
    return True


def _weigh_standing(candidate: Candidate) -> None:
    """A matching tool's evaluation and status move it up or down."""
    if candidate.evaluation_score is not None:
        candidate.score += 0.2 * candidate.evaluation_score
        candidate.reasons.append(f"evaluation score {candidate.evaluation_score:.2f}")
    if candidate.status == ToolStatus.APPROVED:
        candidate.score += 0.05
        candidate.reasons.append("approved for use")
    elif candidate.status == ToolStatus.DEPRECATED:
        candidate.score *= 0.5
        candidate.reasons.append("deprecated: ranked lower")


def _server_candidates(
    servers: list[McpServer], registered: set[uuid.UUID], request_words: set[str]
) -> list[Candidate]:
    """Servers whose name or command the request mentions, and those not refreshed yet."""
    candidates = []
    for server in servers:
        hint = set(llm.words(server.name + " " + " ".join(map(str, server.args or []))))
        shared = hint & request_words
        reasons = []
        score = 0.0
        if shared:
            score += 0.3 * len(shared) / max(1, len(hint))
            reasons.append(f"server name or command mentions {sorted(shared)}")
        if server.id not in registered:
            score += 0.05
            reasons.append("its tools are not registered yet: refresh the server to list them")
        if score > 0.05 or (reasons and shared):
            candidates.append(
                Candidate(
                    kind="MCP_SERVER",
                    mcp_server_id=server.id,
                    name=server.name,
                    description=f"MCP server ({server.transport})",
                    score=score,
                    reasons=reasons,
                )
            )
    return candidates


async def _store(
    database: Database,
    request: DiscoverRequest,
    top: list[Candidate],
    *,
    semantic: bool,
    user: UserOut | None,
) -> DiscoverResult:
    """Keep the request with its context and results; answer with its id."""
    async with database.transaction() as session:
        row = ToolDiscovery(
            capability=request.capability,
            query_text=request.query,
            context=request.context,
            results=[c.model_dump(mode="json", include={"kind", "name", "score"}) for c in top],
            requested_by=user.id if user else None,
        )
        session.add(row)
        await session.flush()
        result = DiscoverResult(
            id=row.id,
            capability=row.capability,
            query=row.query_text,
            candidates=top,
            semantic=semantic,
            created_at=row.created_at,
        )
    return result


async def get_discovery(
    session: AsyncSession, *, discovery_id: uuid.UUID, user: UserOut | None = None
) -> DiscoveryOut:
    """A stored request; only its requester (or an ADMIN) may read it, others get NotFound."""
    row = await session.get(ToolDiscovery, discovery_id)
    someone_else = (
        row is not None
        and user is not None
        and user.role != UserRole.ADMIN
        and row.requested_by != user.id
    )
    if row is None or someone_else:
        raise NotFound.of("Discovery request", discovery_id)
    return DiscoveryOut.model_validate(row)
