"""A real ``berrys worker`` process whose model is scripted, for the tests of many workers.

Usage: python -m tests.scale.worker_child [berrys worker options]

Settings come from the environment as for ``berrys worker`` (``BERRYS_DATABASE_URL``,
``BERRYS_LLM_SCRIPTED_LATENCY_MS`` for the model's latency, ...). The one scripted model
answers every task with a short note; nothing else differs from the command itself.
"""

from __future__ import annotations

import sys
from typing import Any

from berrys.cli.app import app
from berrys.services.llm import service as llm

ANSWERS = 100_000  # more than any test asks for: running out would fail loudly


def _answer(request: Any) -> str:
    """A note naming the task (the request's last message opens with it)."""
    asked = request.messages[-1].content.splitlines()[0] if request.messages else ""
    return f"Done: {asked[:80]}"


if __name__ == "__main__":
    llm.script("scripted-worker", [_answer] * ANSWERS)
    sys.exit(app(["worker", *sys.argv[1:]], prog_name="berrys", standalone_mode=True))
