"""The LOCAL provider's setup without loading a model: when it is on, and its threads.

The default install has no llama.cpp and no model: the router then has RULES only (and the
offline drafts), and everything still answers offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from berrys.config import Settings
from berrys.core.db import Database
from berrys.core.errors import ServiceUnavailable
from berrys.services.llm import _runtime
from berrys.services.llm import service as llm
from berrys.services.llm._providers import local
from berrys.services.llm._providers.local import LocalProvider
from berrys.services.llm.contracts import (
    ChatMessage,
    CompletionRequest,
    ModelProvider,
    ModelTaskType,
)

LOCAL = ModelProvider.LOCAL


@pytest.fixture
def setup(llm_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    """Nothing installed: no llama.cpp, no test model; ``setup`` switches them on."""
    state = {"runtime": False, "bundled": None}
    monkeypatch.setattr(local, "runtime_installed", lambda: state["runtime"])
    monkeypatch.setattr(local, "bundled_model_path", lambda: state["bundled"])
    return state


def build(settings: Settings, **changes: object) -> _runtime.Runtime:
    return _runtime.build(settings.model_copy(update={"local_model_enabled": None, **changes}))


def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "Qwen2.5-7B-Instruct-Q4_K_M.gguf"
    path.write_bytes(b"GGUF")
    return path


async def test_nothing_configured_means_rules_only_and_offline_still_answers(
    database: Database, llm_settings: Settings, setup: dict
) -> None:
    state = build(llm_settings)
    assert LOCAL not in state.providers
    assert state.unavailable[LOCAL] == "not configured"
    for task_type in (ModelTaskType.TEAM, ModelTaskType.TASK, ModelTaskType.REVIEW):
        result = await llm.complete(
            state,
            database,
            CompletionRequest(
                messages=[ChatMessage(role="user", content="Draft it.")],
                task_type=task_type,
                rules=lambda: "the offline draft",
            ),
        )
        assert (result.provider, result.content) == (ModelProvider.RULES, "the offline draft")
    # free text with no rules answer: refused plainly, not answered by a 135M model
    with pytest.raises(ServiceUnavailable):
        await llm.complete(
            state, database, CompletionRequest(messages=[ChatMessage(role="user", content="Hi")])
        )


def test_a_model_path_turns_local_on(llm_settings: Settings, setup: dict, tmp_path: Path) -> None:
    path = gguf(tmp_path)
    setup["runtime"] = True
    provider = build(llm_settings, local_model_path=path).providers[LOCAL]
    assert isinstance(provider, LocalProvider)
    assert (provider.model_path, provider.name) == (path, "qwen2.5-7b-instruct-q4_k_m")
    # a path without the local extra: said plainly (it is a configuration to fix)
    setup["runtime"] = False
    state = build(llm_settings, local_model_path=path)
    assert LOCAL not in state.providers
    assert "berrys[local]" in state.unavailable[LOCAL]
    # a path to nothing
    setup["runtime"] = True
    state = build(llm_settings, local_model_path=tmp_path / "missing.gguf")
    assert "no such file" in state.unavailable[LOCAL]


def test_the_test_model_is_used_only_when_asked_for(
    llm_settings: Settings, setup: dict, tmp_path: Path
) -> None:
    setup["bundled"] = gguf(tmp_path)
    setup["runtime"] = True
    # installed beside llama.cpp, it still stays out of a user's runs by default...
    assert build(llm_settings).unavailable[LOCAL] == "not configured"
    # ...and answers when asked for
    provider = build(llm_settings, local_model_enabled=True).providers[LOCAL]
    assert provider.name == local.BUNDLED_MODEL  # type: ignore[attr-defined]


def test_enabled_explicitly_with_no_model_says_what_is_missing(
    llm_settings: Settings, setup: dict
) -> None:
    setup["runtime"] = True
    state = build(llm_settings, local_model_enabled=True)
    assert "BERRYS_LOCAL_MODEL_PATH" in state.unavailable[LOCAL]


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BERRYS_LOCAL_MODEL_ENABLED", raising=False)
    monkeypatch.setenv("BERRYS_LOCAL_MODEL_THREADS", "3")
    settings = Settings(_env_file=None)
    assert (settings.local_model_enabled, settings.local_model_threads) == (None, 3)
    monkeypatch.setenv("BERRYS_LOCAL_MODEL_ENABLED", "false")
    assert Settings(_env_file=None).local_model_enabled is False


def test_generation_and_prompt_use_the_same_threads(tmp_path: Path) -> None:
    default = LocalProvider(model_path=gguf(tmp_path), name="m", context=512)
    arguments = default.llama_arguments()
    assert arguments["n_threads"] == arguments["n_threads_batch"] == local.default_threads()
    chosen = LocalProvider(model_path=gguf(tmp_path), name="m", context=512, threads=3)
    assert (chosen.llama_arguments()["n_threads"], chosen.llama_arguments()["n_threads_batch"]) == (
        3,
        3,
    )


@pytest.mark.parametrize(
    ("cpus", "cgroup", "threads"),
    [
        (2, None, 2),  # every CPU the process may use
        (1, None, 1),
        (64, None, local.MAX_DEFAULT_THREADS),  # capped
        (16, "150000 100000", 2),  # a container's quota of 1.5 CPUs
        (16, "max 100000", 8),  # no quota
        (4, "800000 100000", 4),  # the affinity is the smaller
    ],
)
def test_default_threads_are_the_available_cpus_capped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cpus: int, cgroup: str | None, threads: int
) -> None:
    monkeypatch.setattr(local.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    cpu_max = tmp_path / "cpu.max"
    if cgroup is not None:
        cpu_max.write_text(cgroup + "\n")
    monkeypatch.setattr(local, "_CGROUP_CPU_MAX", cpu_max)
    assert local.default_threads() == threads
