"""What the router may choose from: configured providers' models, the registry, scripts."""

from __future__ import annotations

import asyncio
import time

import structlog
from sqlalchemy import select

from berrys.core.db import Database
from berrys.services.llm import _credentials
from berrys.services.llm._providers.base import ModelSeed, ModelSpec
from berrys.services.llm._runtime import REGISTRY_TTL_SECONDS, Runtime
from berrys.services.llm.contracts import ModelProvider, ModelTaskType
from berrys.services.llm.tables import LlmModel

_log = structlog.get_logger("berrys.llm")
DISCOVERY_TIMEOUT_SECONDS = 5.0
DISCOVERY_RETRY_SECONDS = 60.0


def spec_of(row: LlmModel) -> ModelSpec:
    return ModelSpec(
        provider=row.provider,
        name=row.name,
        capabilities=frozenset(row.capabilities),
        context_window=row.context_window,
        input_price_per_million=row.input_price_per_million,
        output_price_per_million=row.output_price_per_million,
        is_local=row.is_local,
        quality={ModelTaskType(key): int(value) for key, value in (row.quality or {}).items()},
        id=row.id,
        success_rate=row.success_rate,
        latency_ms_avg=row.latency_ms_avg,
        feedback_score=row.feedback_score,
        endpoint=row.id if _credentials.has_endpoint(row) else None,
    )


def spec_of_seed(seed: ModelSeed) -> ModelSpec:
    return ModelSpec(
        provider=seed.provider,
        name=seed.name,
        capabilities=seed.capabilities,
        context_window=seed.context_window,
        input_price_per_million=seed.input_price_per_million,
        output_price_per_million=seed.output_price_per_million,
        is_local=seed.is_local,
        quality=dict(seed.quality),
    )


async def seeds(state: Runtime) -> list[ModelSeed]:
    """The models the configured providers offer: asked once per process, and again after
    ``DISCOVERY_RETRY_SECONDS`` for a provider that did not answer (each ask is bounded)."""
    now = time.monotonic()
    if state.seeds is None or (state.seeds_missing and now >= state.seeds_retry_at):
        found = {(seed.provider, seed.name): seed for seed in state.seeds or []}
        missing: list[ModelProvider] = []
        for kind, provider in state.providers.items():
            if state.seeds is not None and kind not in state.seeds_missing:
                continue
            try:
                async with asyncio.timeout(DISCOVERY_TIMEOUT_SECONDS):
                    offered = await provider.discover()
            except Exception as exc:
                missing.append(kind)
                _log.warning("llm.discover_failed", provider=kind, error=type(exc).__name__)
                continue
            found.update({(seed.provider, seed.name): seed for seed in offered})
        state.seeds = list(found.values())
        state.seeds_missing = missing
        state.seeds_retry_at = now + DISCOVERY_RETRY_SECONDS
        state.forget_registry()
    return state.seeds


async def candidates(state: Runtime, database: Database) -> list[ModelSpec]:
    """Scripted models, the registry's enabled rows, and configured models not yet in it."""
    cached = state.models.get(database.url)
    if cached is None or time.monotonic() - cached[0] >= REGISTRY_TTL_SECONDS:
        async with database.transaction(read_only=True) as session:
            rows = list(await session.scalars(select(LlmModel)))
        listed = {(row.provider, row.name) for row in rows}
        # A SCRIPTED row has no script behind it (scripted models are installed on the runtime,
        # added below): never a candidate, or it would break every call it outranks.
        specs = [
            spec_of(row) for row in rows if row.enabled and row.provider != ModelProvider.SCRIPTED
        ]
        for row in rows:
            if row.enabled and _credentials.has_endpoint(row):
                _credentials.endpoint(state, row)
        specs += [spec_of_seed(s) for s in await seeds(state) if (s.provider, s.name) not in listed]
        cached = (time.monotonic(), specs)
        state.models[database.url] = cached
    specs = list(cached[1])
    extra = state.scripted.scripts.specs()
    cassette = state.scripted.cassette_spec()
    if cassette is not None:
        extra.append(cassette)
    if extra:
        names = {spec.key for spec in extra}
        specs = extra + [spec for spec in specs if spec.key not in names]
    return specs
