"""Response models of search: a ranked hit, and a page of them."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, StringConstraints

from berrys.core.contracts import Contract
from berrys.core.enums import BerrysEnum


class SearchKind(BerrysEnum):
    """What similarity search looks through."""

    PROJECT = "PROJECT"
    TASK = "TASK"
    AGENT_TEMPLATE = "AGENT_TEMPLATE"
    TOOL = "TOOL"


SearchText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SearchHit(Contract):
    kind: SearchKind
    id: uuid.UUID
    name: str
    description: str = Field(description="The first 300 characters.")
    project_id: uuid.UUID | None = Field(
        default=None, description="The project of a PROJECT or TASK hit."
    )
    score: float = Field(ge=0.0, le=1.0, description="Relevance: 1 is best.")
    similarity: float | None = Field(
        default=None, description="Cosine similarity of the embeddings (None: not embedded yet)."
    )
    reasons: list[str] = Field(default_factory=list, description="Why it scored what it did.")


class SearchResult(Contract):
    """A page of hits, best first; ``total`` counts every hit."""

    items: list[SearchHit]
    total: int
    model: str | None = Field(
        default=None, description="The embedder ranked with; None: words only (it failed)."
    )
    pending: int = Field(
        default=0,
        description=(
            "Candidates not embedded yet (scored on words only); they are embedded in the "
            "background, so the same query ranks them fully moments later."
        ),
    )
