"""Router overhead per call over calling the provider directly, beside LiteLLM's Router.

Berrys (SCRIPTED provider, zero latency, answers "4"):
  direct   ScriptedProvider.complete(spec, prepared request)
  router   the router in process: prepare (system prompt, request hash), choose (needs
           filter, ranking), run (concurrency limit, timeout, attempt record, Completion)
  complete llm.complete(models, database, request): the router plus the budget check and the
           ``model_request`` row written in its own SQLite transaction
LiteLLM (``mock_response``, in the same run):
  direct   litellm.acompletion(model=..., mock_response=...)
  router   litellm.Router(...).acompletion(model=..., mock_response=...)

Overhead = median(router) - median(direct), each a median over ``--calls`` calls, then the
median over ``--runs`` runs. LiteLLM is not a Berrys dependency: ``pip install litellm`` to
include it (the script says so and skips it otherwise).

    python benchmarks/llm_router.py --runs 5 --calls 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import

from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.core.logging import configure_logging
from berrys.services.llm import _discovery, _router
from berrys.services.llm import service as llm
from berrys.services.llm._providers.base import estimate_tokens
from berrys.services.llm.contracts import ChatMessage, CompletionRequest, ModelProvider

MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is two plus two?"},
]


async def per_call_ms(
    calls: int, block: int = 100, **variants: Callable[[], Awaitable[object]]
) -> dict[str, float]:
    """Median ms per call of each variant, measured in alternating blocks of ``block`` calls
    so that drift (load, caches, a library's growing state) hits every variant alike."""
    for call in variants.values():  # warm up
        for _ in range(min(200, calls)):
            await call()
    samples: dict[str, list[int]] = {name: [] for name in variants}
    for _ in range(max(1, calls // block)):
        for name, call in variants.items():
            for _ in range(block):
                start = time.perf_counter_ns()
                await call()
                samples[name].append(time.perf_counter_ns() - start)
    return {name: statistics.median(values) / 1e6 for name, values in samples.items()}


async def berrys_run(calls: int, folder: Path) -> dict[str, float]:
    settings = Settings(
        data_dir=folder,
        database_url=f"sqlite+aiosqlite:///{folder / 'bench.db'}",
        local_model_enabled=False,
        log_level="WARNING",
        _env_file=None,
    )
    configure_logging("WARNING", "console")
    database = Database(settings.resolved_database_url)
    await migrate.upgrade(database)
    state = llm.build_runtime(settings)
    request = CompletionRequest(messages=[ChatMessage(**m) for m in MESSAGES])
    total = 3 * (calls + 300)
    scripted = llm.script(state, "bench", ["4"] * total)
    provider = state.providers[ModelProvider.SCRIPTED]
    specs = await _discovery.candidates(state, database)
    preq = llm._prepare(request, settings)

    async def direct() -> object:
        return await provider.complete(scripted.spec, preq)

    async def routed() -> object:
        prepared = llm._prepare(request, settings)
        tokens = estimate_tokens("".join(m.content for m in prepared.messages))
        chain, reason = _router.choose(state, specs, request, tokens)
        return await _router.run(state, chain, request, prepared, [], reason=reason)

    async def complete() -> object:
        return await llm.complete(state, database, request)

    result = await per_call_ms(calls, direct=direct, router=routed, complete=complete)
    scripted.uninstall()
    await state.aclose()
    await database.dispose()
    return result


async def litellm_run(calls: int) -> dict[str, float] | None:
    try:
        import litellm
    except ImportError:
        return None
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    model_router = litellm.Router(
        model_list=[
            {
                "model_name": "bench",
                "litellm_params": {"model": "openai/bench", "api_key": "unused"},
            }
        ]
    )

    async def direct() -> object:
        return await litellm.acompletion(
            model="openai/bench", messages=MESSAGES, mock_response="4", api_key="unused"
        )

    async def routed() -> object:
        return await model_router.acompletion(model="bench", messages=MESSAGES, mock_response="4")

    return await per_call_ms(calls, direct=direct, router=routed)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    berrys_runs, litellm_runs = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            berrys_runs.append(await berrys_run(args.calls, Path(folder)))
        peer = await litellm_run(args.calls)
        if peer is not None:
            litellm_runs.append(peer)
        print(f"run {run + 1}: berrys {berrys_runs[-1]}  litellm {peer}", flush=True)

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    b_direct, b_router = median(berrys_runs, "direct"), median(berrys_runs, "router")
    print(f"\nms per call, median of {args.runs} runs x {args.calls} calls")
    print(
        f"berrys  direct {b_direct:.4f}  router {b_router:.4f}  overhead {b_router - b_direct:.4f}"
    )
    print(
        "berrys  complete (router + budget check + model_request row) "
        f"{median(berrys_runs, 'complete'):.4f}"
    )
    if litellm_runs:
        l_direct, l_router = median(litellm_runs, "direct"), median(litellm_runs, "router")
        print(
            f"litellm direct {l_direct:.4f}  router {l_router:.4f}  "
            f"overhead {l_router - l_direct:.4f}"
        )
    else:
        print("litellm: not installed (pip install litellm to compare)")


if __name__ == "__main__":
    asyncio.run(main())
