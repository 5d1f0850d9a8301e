"""Quality-gate pass rates per model and task type, and the router's rule: deliverables
(TASK) and reviews (REVIEW) never go to a model measurably below the offline draft (RULES)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from berrys.core.db import Database
from berrys.core.errors import ServiceUnavailable
from berrys.services.llm import _gates, _runtime
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import (
    ChatMessage,
    CompletionRequest,
    ModelProvider,
    ModelTaskType,
)

RULES = ModelProvider.RULES
SCRIPTED = ModelProvider.SCRIPTED
TASK, REVIEW, GENERAL = ModelTaskType.TASK, ModelTaskType.REVIEW, ModelTaskType.GENERAL
OFFLINE_DRAFT = "# Launch checklist\n\nOffline draft from the catalogue; 2 TODOs for a person"


def deliverable(task_type: ModelTaskType = TASK, *, rules: bool = True) -> CompletionRequest:
    return CompletionRequest(
        messages=[ChatMessage(role="user", content="Write the launch checklist.")],
        task_type=task_type,
        rules=(lambda: OFFLINE_DRAFT) if rules else None,
    )


async def verdicts(
    models: _runtime.Runtime,
    database: Database,
    provider: ModelProvider,
    model: str,
    *,
    passed: int = 0,
    failed: int = 0,
    task_type: ModelTaskType = TASK,
) -> None:
    for outcome in [True] * passed + [False] * failed:
        await llm.record_gate(
            models, database, provider=provider, model=model, task_type=task_type, passed=outcome
        )


async def test_verdicts_are_counted_per_provider_model_and_task_type(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    # one atomic statement a verdict: twenty at once lose nothing
    await asyncio.gather(
        *(
            llm.record_gate(
                llm_runtime,
                database,
                provider=SCRIPTED,
                model="tiny",
                task_type=TASK,
                passed=i % 4 == 0,
            )
            for i in range(20)
        )
    )
    await verdicts(llm_runtime, database, SCRIPTED, "tiny", failed=3, task_type=REVIEW)
    await verdicts(llm_runtime, database, RULES, llm.OFFLINE_DRAFT_MODEL, passed=2)
    rates = {(r.provider, r.model, r.task_type): r for r in await llm.gate_rates(database)}
    assert {key: (r.passed, r.failed, r.pass_rate) for key, r in rates.items()} == {
        (SCRIPTED, "tiny", TASK): (5, 15, 0.25),
        (SCRIPTED, "tiny", REVIEW): (0, 3, 0.0),
        (RULES, "rules", TASK): (2, 0, 1.0),
    }


async def test_a_model_below_the_offline_draft_gets_no_deliverables_or_reviews(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    with llm.script(
        llm_runtime, "tiny", ["draft 1", "review 1", "hello", "hello again"], gated=True
    ) as tiny:
        first = await llm.complete(llm_runtime, database, deliverable())
        assert first.model == "tiny"  # nothing measured yet: the model is tried
        assert (await llm.complete(llm_runtime, database, deliverable(REVIEW))).model == "tiny"
        # what the measurements found for a 135M model: no usable deliverable, no parseable review
        await verdicts(llm_runtime, database, SCRIPTED, "tiny", failed=5)
        await verdicts(llm_runtime, database, SCRIPTED, "tiny", failed=5, task_type=REVIEW)
        await verdicts(llm_runtime, database, RULES, llm.OFFLINE_DRAFT_MODEL, passed=5)
        await verdicts(
            llm_runtime, database, RULES, llm.OFFLINE_DRAFT_MODEL, passed=5, task_type=REVIEW
        )

        # the very next call (the verdicts are read again at once): the offline draft
        result = await llm.complete(llm_runtime, database, deliverable())
        assert (result.provider, result.content, result.from_rules) == (RULES, OFFLINE_DRAFT, True)
        assert "tiny: gate 0/5 passed, below the offline draft's 5/5 passed" in result.reason
        assert (await llm.complete(llm_runtime, database, deliverable(REVIEW))).from_rules
        # other task types are not judged by the deliverable gate: the model still answers
        assert (await llm.complete(llm_runtime, database, deliverable(GENERAL))).content == "hello"
        # a model named on the request is the caller's explicit choice
        named = deliverable()
        named.model = "tiny"
        assert (await llm.complete(llm_runtime, database, named)).content == "hello again"
        assert tiny.remaining == 0


async def test_without_an_offline_draft_no_model_answers_and_the_reason_says_why(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    await verdicts(llm_runtime, database, SCRIPTED, "tiny", failed=8)
    await verdicts(llm_runtime, database, RULES, llm.OFFLINE_DRAFT_MODEL, passed=6)
    with (
        llm.script(llm_runtime, "tiny", [], gated=True),
        pytest.raises(ServiceUnavailable) as raised,
    ):
        await llm.complete(llm_runtime, database, deliverable(rules=False))
    assert "tiny: gate 0/8 passed, below the offline draft's 6/6 passed" in str(raised.value)


@pytest.mark.parametrize(
    ("model", "offline", "routed_to_model"),
    [
        ((0, 4), (5, 0), True),  # four verdicts are too few to judge
        ((0, 5), (5, 0), False),  # never passes against always passes: out after five
        ((4, 1), (10, 0), True),  # one unlucky failure of a capable model is chance
        ((1, 9), (10, 0), False),  # 10 % against 100 %: out
        ((0, 20), (0, 0), True),  # the offline draft unmeasured: nothing to compare with
        ((3, 7), (6, 4), True),  # 30 % against 60 %: not yet more than chance
        ((30, 70), (60, 40), False),  # the same rates with ten times the evidence: out
        ((20, 0), (5, 5), True),  # better than the offline draft
    ],
)
async def test_the_rule_waits_for_evidence_beyond_chance(
    database: Database,
    llm_runtime: _runtime.Runtime,
    model: tuple[int, int],
    offline: tuple[int, int],
    routed_to_model: bool,
) -> None:
    await verdicts(llm_runtime, database, SCRIPTED, "candidate", passed=model[0], failed=model[1])
    await verdicts(
        llm_runtime, database, RULES, llm.OFFLINE_DRAFT_MODEL, passed=offline[0], failed=offline[1]
    )
    with llm.script(llm_runtime, "candidate", ["the model's draft"], gated=True):
        result = await llm.complete(llm_runtime, database, deliverable())
    assert (result.model == "candidate") is routed_to_model


async def test_verdicts_are_per_task_type(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    await verdicts(llm_runtime, database, SCRIPTED, "reviewer", failed=6, task_type=REVIEW)
    await verdicts(
        llm_runtime, database, RULES, llm.OFFLINE_DRAFT_MODEL, passed=6, task_type=REVIEW
    )
    with llm.script(llm_runtime, "reviewer", ["a deliverable"], gated=True):
        # its reviews fail, its deliverables were never judged: it still drafts them
        assert (await llm.complete(llm_runtime, database, deliverable(TASK))).model == "reviewer"
        assert (await llm.complete(llm_runtime, database, deliverable(REVIEW))).from_rules


async def test_a_script_answers_unless_gated(
    database: Database, llm_runtime: _runtime.Runtime
) -> None:
    """A benchmark replaying bad output on purpose must reach the gate every time."""
    await verdicts(llm_runtime, database, SCRIPTED, "bad", failed=10)
    await verdicts(llm_runtime, database, RULES, llm.OFFLINE_DRAFT_MODEL, passed=10)
    with llm.script(llm_runtime, "bad", ["loop loop loop"]):
        assert (await llm.complete(llm_runtime, database, deliverable())).model == "bad"


async def test_removing_a_model_forgets_its_verdicts(
    database: Database, llm_runtime: _runtime.Runtime, client: httpx.AsyncClient, admin
) -> None:
    await llm.sync_registry(llm_runtime, database)
    async with database.transaction(read_only=True) as session:
        models, _ = await llm.get_all(session, limit=10, offset=0, provider=RULES)
    await verdicts(llm_runtime, database, RULES, "rules", passed=1)
    await verdicts(llm_runtime, database, SCRIPTED, "other", failed=1)
    response = await client.delete(f"/api/v1/models/{models[0].id}", headers=admin.headers)
    assert response.status_code == 204
    assert [(r.provider, r.model) for r in await llm.gate_rates(database)] == [(SCRIPTED, "other")]


def test_wilson_bounds() -> None:
    assert _gates.Tally(0, 0).bounds() == (0.0, 1.0)
    low, high = _gates.Tally(0, 5).bounds()
    assert low == 0.0
    assert high == pytest.approx(0.434, abs=1e-3)
    assert _gates.Tally(5, 0).bounds()[0] == pytest.approx(0.566, abs=1e-3)
    assert _gates.Tally(0, 128).bounds()[1] == pytest.approx(0.029, abs=1e-3)
