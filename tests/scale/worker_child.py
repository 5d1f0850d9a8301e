"""A real ``berrys worker`` process whose model is scripted, for the tests of many workers.

Usage: python -m tests.scale.worker_child

Settings come from the environment as for ``berrys worker`` (``BERRYS_DATABASE_URL``,
``BERRYS_LLM_SCRIPTED_LATENCY_MS`` for the model's latency, ...). It runs what the command
runs (``run_worker``) with ``Services`` of its own, on which one scripted model is installed
that answers every task with a short note.
"""

from __future__ import annotations

import asyncio
from typing import Any

from berrys.cli.common import load_settings, setup_logging
from berrys.cli.worker import run_worker
from berrys.services.llm import service as llm
from berrys.wiring import Services

ANSWERS = 100_000  # more than any test asks for: running out would fail loudly


def _answer(request: Any) -> str:
    """A note naming the task (the request's last message opens with it)."""
    asked = request.messages[-1].content.splitlines()[0] if request.messages else ""
    return f"Done: {asked[:80]}"


async def main() -> None:
    settings = load_settings()
    setup_logging(settings, server=True)
    services = Services.build(settings)
    llm.script(services.models, "scripted-worker", [_answer] * ANSWERS)
    try:
        await run_worker(services)
    finally:
        await services.aclose()


if __name__ == "__main__":
    asyncio.run(main())
