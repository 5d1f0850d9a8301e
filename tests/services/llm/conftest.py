"""Model Orchestration fixtures: a fresh runtime per test (no cooldowns or caches carried
over) configured without the local model, and no scripted models left behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from berrys.config import Settings
from berrys.services.llm import runtime
from berrys.services.llm.providers import scripted


@pytest.fixture
def llm_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"local_model_enabled": False, "llm_cooldown_seconds": 30.0, "llm_max_repairs": 2}
    )


@pytest.fixture
def llm_runtime(llm_settings: Settings) -> Iterator[runtime.Runtime]:
    """The runtime, rebuilt from ``llm_settings``; scripts removed afterwards."""
    scripted.reset()
    state = runtime.configure(llm_settings)
    yield state
    scripted.reset()
    runtime.configure(llm_settings)
