"""The state of Model Orchestration: providers, limits, cooldowns, caches.

``build(settings)`` makes one; the application's wiring holds it and hands it to every
call that uses a model (the first argument of ``llm.complete`` and friends). Provider API
keys live only inside the provider clients: nothing here logs or returns them. A registered
model with stored credentials is served by a provider of its own (an *endpoint*, keyed by
the model's id), built when the registry is read (``discovery.candidates``) and rebuilt
when its URL or key changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import structlog

from berrys.config import Settings
from berrys.core.encryption import SecretBox, secret_box
from berrys.services.llm._providers.base import ModelSpec, Provider
from berrys.services.llm._providers.rules import RulesProvider
from berrys.services.llm._providers.scripted import Cassette, ScriptedProvider
from berrys.services.llm._scoring import Warmer
from berrys.services.llm._slots import SharedLimits
from berrys.services.llm.contracts import ModelProvider

_log = structlog.get_logger("berrys.llm")
REGISTRY_TTL_SECONDS = 5.0
# Served inside the process: its limit is the process's own, whatever the database.
IN_PROCESS = frozenset({ModelProvider.RULES, ModelProvider.LOCAL})


@dataclass(slots=True)
class Cooldown:
    until: float
    strict: bool  # a provider's Retry-After: not tried at all until it has passed


@dataclass(slots=True)
class Endpoint:
    """The provider serving one registered model from its stored URL and key (``provider``),
    or why there is none (``error``); ``fingerprint`` tells when the row changed."""

    fingerprint: tuple[str | None, str | None]
    provider: Provider | None = None
    error: str | None = None


@dataclass
class Runtime:
    settings: Settings
    providers: dict[ModelProvider, Provider] = field(default_factory=dict)
    unavailable: dict[ModelProvider, str] = field(default_factory=dict)
    # Registered models with stored credentials, by model id; replaced ones wait in
    # ``retired`` to be closed with the runtime (a call may still be using them).
    endpoints: dict[uuid.UUID, Endpoint] = field(default_factory=dict)
    retired: list[Provider] = field(default_factory=list)
    semaphores: dict[ModelProvider | uuid.UUID, asyncio.Semaphore] = field(default_factory=dict)
    # Calls in flight counted in the database, across every process sharing it (PostgreSQL).
    shared: SharedLimits | None = None
    cooldowns: dict[tuple[ModelProvider, str], Cooldown] = field(default_factory=dict)
    failures: dict[tuple[ModelProvider, str], int] = field(default_factory=dict)
    # Registry rows by database URL, with the time they were read.
    models: dict[str, tuple[float, list[ModelSpec]]] = field(default_factory=dict)
    budgets: dict[str, tuple[float, list[Any]]] = field(default_factory=dict)
    # Quality-gate verdicts by database URL, with the time they were read (``gates``).
    gates: dict[str, tuple[float, Any]] = field(default_factory=dict)
    synced: set[str] = field(default_factory=set)
    embedders: dict[str, Any] = field(default_factory=dict)
    # What search had no time to embed, embedded in the background (cancelled by ``aclose``).
    warming: Warmer = field(default_factory=Warmer)
    seeds: list[Any] | None = None
    seeds_missing: list[ModelProvider] = field(default_factory=list)
    seeds_retry_at: float = 0.0

    @cached_property
    def secrets(self) -> SecretBox:
        """Encrypts and decrypts stored API keys under the configured secret key(s)."""
        return secret_box(self.settings)

    @property
    def scripted(self) -> ScriptedProvider:
        """The SCRIPTED provider: the scripts installed on this runtime, and the cassette."""
        provider = self.providers[ModelProvider.SCRIPTED]
        if not isinstance(provider, ScriptedProvider):
            raise TypeError(f"The SCRIPTED provider is a {type(provider).__name__}")
        return provider

    def provider_for(self, spec: ModelSpec) -> Provider | None:
        """Who serves ``spec``: its stored endpoint, else its kind's configured provider."""
        if spec.endpoint is not None:
            endpoint = self.endpoints.get(spec.endpoint)
            return endpoint.provider if endpoint is not None else None
        return self.providers.get(spec.provider)

    def why_unserved(self, spec: ModelSpec) -> str:
        endpoint = self.endpoints.get(spec.endpoint) if spec.endpoint else None
        if endpoint is not None and endpoint.error:
            return endpoint.error
        return f"provider {spec.provider} is not set up"

    def concurrency(self, spec: ModelSpec) -> int:
        """Calls in flight at once allowed to the provider serving ``spec``."""
        provider = self.provider_for(spec)
        own = provider.concurrency if provider else None
        return own or self.settings.llm_provider_concurrency

    @contextlib.asynccontextmanager
    async def slot(self, spec: ModelSpec) -> AsyncIterator[None]:
        """A slot of the provider serving ``spec`` (one limit per endpoint) for the block:
        this process's share first, then, with a database several processes share, one of
        the provider's slots counted there."""
        key = spec.endpoint or spec.provider
        semaphore = self.semaphores.get(key)
        if semaphore is None:
            semaphore = self.semaphores[key] = asyncio.Semaphore(self.concurrency(spec))
        async with semaphore:
            if self.shared is None or spec.provider in IN_PROCESS:
                yield
                return
            async with self.shared.hold(str(key), self.concurrency(spec)):
                yield

    def cooling(self, spec: ModelSpec, now: float | None = None) -> Cooldown | None:
        cooldown = self.cooldowns.get(spec.key)
        if cooldown is None:
            return None
        if cooldown.until <= (time.monotonic() if now is None else now):
            del self.cooldowns[spec.key]
            return None
        return cooldown

    def cool_down(self, spec: ModelSpec, seconds: float, *, strict: bool = False) -> None:
        self.cooldowns[spec.key] = Cooldown(until=time.monotonic() + seconds, strict=strict)

    def forget_registry(self) -> None:
        self.models.clear()

    def forget_budgets(self) -> None:
        self.budgets.clear()

    async def aclose(self) -> None:
        await self.warming.aclose()
        if self.shared is not None:
            await self.shared.aclose()
        serving = [e.provider for e in self.endpoints.values() if e.provider is not None]
        for provider in [*self.providers.values(), *serving, *self.retired]:
            try:
                await provider.aclose()
            except Exception as exc:  # closing must not hide the caller's own error
                _log.warning("llm.provider_close_failed", error=type(exc).__name__)


def build(settings: Settings, shared: SharedLimits | None = None) -> Runtime:
    """The providers ``settings`` configure, with no scripted model installed yet;
    ``shared``: provider limits counted in a database several processes share."""
    runtime = Runtime(settings=settings, shared=shared)
    cassette = None
    if settings.llm_cassette is not None:
        cassette = Cassette(settings.llm_cassette, record=settings.llm_cassette_mode == "record")
    runtime.providers[ModelProvider.SCRIPTED] = ScriptedProvider(
        cassette, latency_ms=settings.llm_scripted_latency_ms
    )
    runtime.providers[ModelProvider.RULES] = RulesProvider()
    for kind, factory in _optional_providers().items():
        try:
            provider = factory(settings)
        except Exception as exc:
            runtime.unavailable[kind] = f"{type(exc).__name__}: {exc}"
            continue
        if provider is None:
            runtime.unavailable[kind] = "not configured"
        else:
            runtime.providers[kind] = provider
    return runtime


def _optional_providers() -> dict[ModelProvider, Any]:
    from berrys.services.llm._providers import factories

    return factories.FACTORIES
