"""A model server (OpenAI-compatible, a process of its own) killed mid-call, then started
again on the same port, with the router's real policy (``services/llm/_router.py``):

- a model that cannot be reached is recorded (CONNECTION_ERROR) and cooled down, and the next
  model of the chain answers: with a rules fallback (every task of a run has one) the
  offline answer, which says which model failed; with no fallback, a 503 naming it;
- while it cools down a model goes last: a call with a fallback is answered by it without
  trying the model, a call with nothing else still tries it;
- once its cooldown is over it is first again: nothing to restart.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.e2e.processes import free_port
from tests.services.runs.conftest import (
    by_key,
    create_run,
    deps,
    project,  # noqa: F401 - a fixture
    start_worker,  # noqa: F401 - a fixture
    wait_for_status,
    wait_until,
)

from berrys.config import Settings
from berrys.core.db import Database
from berrys.core.errors import ServiceUnavailable
from berrys.services.catalogue.contracts import RiskLevel
from berrys.services.llm import _runtime
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import (
    ChatMessage,
    CompletionRequest,
    ModelProvider,
    ModelRequestOutcome,
)
from berrys.services.pipeline._executor import AgentExecutor
from berrys.services.runs.contracts import RunStatus, TaskRunStatus, TaskSpec

SERVER = str(Path(__file__).parent / "servers" / "openai_server.py")
COOLDOWN = 0.5  # llm_cooldown_seconds: short, so that the test sees it end


@dataclass
class ModelServer:
    """The tiny OpenAI-compatible server: started, killed and started again on one port."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def held(self) -> Path:
        return self.folder / "held"

    def requests(self) -> list[str]:
        log = self.folder / "requests.log"
        return log.read_text().splitlines() if log.exists() else []

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                SERVER,
                str(self.port),
                str(self.folder / "requests.log"),
                str(self.held),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 30)  # bounded wait
        assert ready, "the model server did not start"
        assert self.process.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[ModelServer]:
    server = ModelServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@pytest.fixture
def services_settings(settings: Settings, model_server: ModelServer) -> Settings:
    """The router with the OPENAI provider on the tiny server."""
    return settings.model_copy(
        update={
            "openai_base_url": model_server.url,
            "openai_models": ["tiny"],
            "llm_cooldown_seconds": COOLDOWN,
        }
    )


@pytest.fixture
def tiny_router(models: _runtime.Runtime) -> _runtime.Runtime:
    """The test's model runtime: the tiny server's, and no scripted model."""
    return models


def ask(text: str, *, fallback: bool) -> CompletionRequest:
    return CompletionRequest(
        messages=[ChatMessage(role="user", content=text)],
        rules=(lambda: "the offline answer") if fallback else None,
    )


async def answered_by_tiny(models: _runtime.Runtime, database: Database) -> bool:
    """Whether the router sends a call that has a fallback to the tiny model again."""
    result = await llm.complete(models, database, ask("probe", fallback=True))
    return result.provider == ModelProvider.OPENAI


async def test_the_router_falls_back_while_the_server_is_down_and_returns_when_back(
    database: Database, model_server: ModelServer, tiny_router: _runtime.Runtime
) -> None:
    up = await llm.complete(tiny_router, database, ask("first", fallback=True))
    assert (up.provider, up.model) == (ModelProvider.OPENAI, "tiny")

    model_server.kill()
    fallback = await llm.complete(tiny_router, database, ask("while down", fallback=True))
    assert fallback.provider == ModelProvider.RULES
    assert fallback.content == "the offline answer"
    assert fallback.fallback is True
    assert [a.outcome for a in fallback.attempts] == [
        ModelRequestOutcome.CONNECTION_ERROR,
        ModelRequestOutcome.SUCCESS,
    ]
    assert "after tiny CONNECTION_ERROR" in fallback.reason
    with pytest.raises(ServiceUnavailable) as refused:  # nothing else to ask
        await llm.complete(tiny_router, database, ask("while down, no fallback", fallback=False))
    assert "No model could answer: tiny: CONNECTION_ERROR" in refused.value.detail

    model_server.start()
    back = time.monotonic()
    seen = len(model_server.requests())
    # Cooling down: a call with a fallback is not sent to the model...
    cooling = await llm.complete(tiny_router, database, ask("back, cooling", fallback=True))
    assert cooling.provider == ModelProvider.RULES
    assert "cooling down: tiny" in cooling.reason
    assert len(model_server.requests()) == seen
    # ... a call with nothing else is, and it answers at once.
    only = await llm.complete(tiny_router, database, ask("back, no fallback", fallback=False))
    assert only.provider == ModelProvider.OPENAI
    # Once the cooldown is over the model is first again, in the same process.
    await wait_until(
        lambda: answered_by_tiny(tiny_router, database), within=20 * COOLDOWN, message="tiny"
    )
    print(f"model server back: first again {time.monotonic() - back:.2f} s after it answered")


async def test_a_run_goes_on_while_the_model_server_is_down_and_uses_it_when_back(
    services,
    database: Database,
    settings: Settings,
    client,
    member,
    project,  # noqa: F811 - the fixture imported above
    start_worker,  # noqa: F811
    model_server: ModelServer,
    tiny_router: _runtime.Runtime,
) -> None:
    specs = [
        TaskSpec(key="brief", name="Write the brief", description="One page."),
        # The tiny server holds this task's call until the test kills it.
        TaskSpec(key="plan", name="Draft the plan", description="The week's plan. [hold]"),
        TaskSpec(key="summary", name="Write the summary", risk_level=RiskLevel.HIGH),
    ]
    run = await create_run(
        database, project, specs, deps("brief>plan", "plan>summary"), actor_id=project.owner_id
    )
    start_worker(
        AgentExecutor(
            settings=settings, database=database, models=services.models, tools=services.tools
        )
    )
    await wait_until(model_server.held.exists, within=30, message="the plan's call in flight")
    model_server.kill()

    # The plan falls back to the offline note, which says why; the run goes on.
    waiting = await wait_for_status(database, run.id, RunStatus.AWAITING_INPUT, within=30)
    tasks = by_key(waiting)
    assert tasks["brief"].status == TaskRunStatus.COMPLETED
    assert tasks["brief"].output["produced_by"] == "OPENAI/tiny"
    plan = tasks["plan"]
    assert plan.status == TaskRunStatus.NEEDS_REVIEW
    assert plan.output["produced_by"] == "RULES/rules"
    reason = plan.output["review_reasons"][0]
    assert reason == "No model could answer (tiny CONNECTION_ERROR): 1 TODO for a person"
    assert plan.output["text"].splitlines()[0] == (
        "> Offline note: no model could answer (tiny CONNECTION_ERROR); 1 TODO for a person"
    )
    assert tasks["summary"].status == TaskRunStatus.AWAITING_INPUT  # its risk approval

    # Back on the same port; the router turns to it once its cooldown is over.
    model_server.start()
    await wait_until(
        lambda: answered_by_tiny(tiny_router, database), within=20 * COOLDOWN, message="tiny"
    )
    pending = await client.get(
        "/api/v1/interactions",
        params={"status": "PENDING", "run_id": str(run.id)},
        headers=member.headers,
    )
    [approval] = pending.json()["items"]
    approved = await client.post(
        f"/api/v1/interactions/{approval['id']}/respond",
        json={"approved": True},
        headers=member.headers,
    )
    assert approved.status_code == 200, approved.text
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED_WITH_REVIEW, within=30)
    summary = by_key(done)["summary"]
    assert summary.status == TaskRunStatus.COMPLETED
    assert summary.output["produced_by"] == "OPENAI/tiny"
    titles = model_server.requests()
    assert titles.count("# Task: Write the brief") == 1
    assert titles.count("# Task: Draft the plan") == 1  # killed mid-call, not asked again
    assert titles.count("# Task: Write the summary") == 1
