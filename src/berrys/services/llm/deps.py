"""What a route needs of Model Orchestration, from the application's wiring
(``app.state.services``): the model runtime and the platform's embedder."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from berrys.services.llm._embeddings import Embedder
from berrys.services.llm._runtime import Runtime


async def get_models(request: Request) -> Runtime:
    models: Runtime = request.app.state.services.models
    return models


async def get_embedder(request: Request) -> Embedder | None:
    embedder: Embedder | None = request.app.state.services.embedder
    return embedder


ModelsDep = Annotated[Runtime, Depends(get_models)]
EmbedderDep = Annotated[Embedder | None, Depends(get_embedder)]
