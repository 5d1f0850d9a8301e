"""REST route of search: what the caller may see, ranked by similarity to a query."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from berrys.core.contracts import MAX_INT
from berrys.core.deps import DatabaseDep
from berrys.services.auth.deps import CurrentUser
from berrys.services.llm.deps import EmbedderDep, ModelsDep
from berrys.services.search import service
from berrys.services.search.contracts import SearchKind, SearchResult, SearchText

router = APIRouter(prefix="/api/v1/search", tags=["search"])


@router.get("/similar", response_model=SearchResult)
async def similar(
    database: DatabaseDep,
    embedder: EmbedderDep,
    models: ModelsDep,
    user: CurrentUser,
    q: Annotated[SearchText, Query(description="What to look for (1 to 200 characters).")],
    kind: Annotated[
        SearchKind | None,
        Query(description="PROJECT, TASK, AGENT_TEMPLATE or TOOL; all if omitted."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50, description="Hits per page.")] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Hits to skip.")] = 0,
) -> SearchResult:
    """Items the user may see, ranked by similarity to ``q`` (scores in [0, 1], best first)."""
    return await service.similar(
        database,
        user=user,
        q=q,
        kinds=[kind] if kind is not None else list(SearchKind),
        limit=limit,
        offset=offset,
        budget=service.EMBED_BUDGET_SECONDS,
        embedder=embedder,
        models=models,
    )
