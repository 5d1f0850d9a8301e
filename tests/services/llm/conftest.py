"""Model Orchestration fixtures: each test's ``Services`` built without the local model, with
the router's cooldown and repair settings these tests count on; ``llm_runtime`` is their
model runtime (fresh per test: no cooldowns or caches carried over, no scripts left)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.llm import _runtime
from berrys.wiring import Services


@pytest.fixture
def llm_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"local_model_enabled": False, "llm_cooldown_seconds": 30.0, "llm_max_repairs": 2}
    )


@pytest.fixture
def services_settings(llm_settings: Settings) -> Settings:
    return llm_settings


@pytest.fixture
def llm_runtime(services: Services) -> _runtime.Runtime:
    return services.models


@pytest.fixture
async def serve_with(
    app: FastAPI, database: Database, client: httpx.AsyncClient
) -> AsyncIterator[Callable[[Settings], Services]]:
    """Serve the client's requests with ``Services`` built from other settings, as a server
    restarted with them would."""
    built: list[Services] = []

    def serve(settings: Settings) -> Services:
        services = Services.build(settings, database=database)
        built.append(services)
        app.state.services = services
        return services

    yield serve
    for services in built:
        await services.close_parts()
