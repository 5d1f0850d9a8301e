"""Quality-gate verdicts per model and task type, and the routing rule drawn from them.

The executor's quality gate judges each deliverable (TASK) and review (REVIEW) a model
writes, and the offline draft that stands in for a failed one (provider RULES); ``record``
counts every verdict per (provider, model, task type). The router leaves a model out of TASK
and REVIEW routing once it has ``MIN_SAMPLES`` verdicts and its 95 % Wilson upper bound is
below the offline draft's lower bound. Scripted models are exempt unless installed with
``gated=True``; a model named on the request is always tried first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from berrys.core.db import Database, utcnow
from berrys.services.llm._providers.base import ModelSpec
from berrys.services.llm._runtime import REGISTRY_TTL_SECONDS, Runtime
from berrys.services.llm.contracts import GateRate, ModelProvider, ModelTaskType
from berrys.services.llm.tables import ModelGate

# The task types whose answers the gate judges and the router holds against the offline draft.
GATED_TASKS = frozenset({ModelTaskType.TASK, ModelTaskType.REVIEW})
# Leaving a model out is for good (it writes no more drafts, so gets no more verdicts), so
# the rates are compared beyond chance, not as they are: a capable model with one unlucky
# failure in five (4/5: up to 0.96) stays against an offline draft at 10/10 (from 0.72).
# Five is the fewest verdicts at which "never passed" is clearly apart from "always passed"
# (0/5: at most 0.43; 5/5: at least 0.57): a model that never writes a usable draft costs
# five failed drafts at most. An offline draft with no verdicts has 0 as its lower bound,
# so nothing is left out before it has been measured.
MIN_SAMPLES = 5
Z_95 = 1.96

_TABLE = ModelGate.__table__
_KEY = [_TABLE.c.provider, _TABLE.c.model_name, _TABLE.c.task_type]


def _upsert(dialect: str, column: str) -> sqlite.Insert | postgresql.Insert:
    insert = sqlite.insert(_TABLE) if dialect == "sqlite" else postgresql.insert(_TABLE)
    return insert.on_conflict_do_update(
        index_elements=_KEY,
        set_={column: _TABLE.c[column] + 1, "updated_at": insert.excluded.updated_at},
    )


# Built once: one atomic statement per verdict, so concurrent workers never lose a count.
_RECORD = {
    (dialect, passed): _upsert(dialect, "passed" if passed else "failed")
    for dialect in ("sqlite", "postgresql")
    for passed in (True, False)
}


@dataclass(frozen=True, slots=True)
class Tally:
    passed: int = 0
    failed: int = 0

    @property
    def samples(self) -> int:
        return self.passed + self.failed

    @property
    def rate(self) -> float:
        return self.passed / self.samples if self.samples else 0.0

    def bounds(self) -> tuple[float, float]:
        """The 95 % Wilson score interval of the pass rate; (0, 1) with no verdicts."""
        n = self.samples
        if n == 0:
            return (0.0, 1.0)
        p = self.passed / n
        z2 = Z_95 * Z_95
        centre = p + z2 / (2 * n)
        margin = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
        scale = 1 + z2 / n
        return (max(0.0, (centre - margin) / scale), min(1.0, (centre + margin) / scale))

    def __str__(self) -> str:
        return f"{self.passed}/{self.samples} passed"


Tallies = Mapping[tuple[ModelProvider, str, ModelTaskType], Tally]


def offline_draft(tallies: Tallies, task_type: ModelTaskType) -> Tally:
    """The offline draft's verdicts for ``task_type`` (every RULES row, whatever its name)."""
    passed = failed = 0
    for (provider, _, task), tally in tallies.items():
        if provider == ModelProvider.RULES and task == task_type:
            passed += tally.passed
            failed += tally.failed
    return Tally(passed, failed)


def below_offline_draft(spec: ModelSpec, task_type: ModelTaskType, tallies: Tallies) -> str | None:
    """Why ``spec`` must not get this task type, or None when it may."""
    if task_type not in GATED_TASKS or spec.provider == ModelProvider.RULES or not spec.gated:
        return None
    tally = tallies.get((spec.provider, spec.name, task_type))
    if tally is None or tally.samples < MIN_SAMPLES:
        return None
    baseline = offline_draft(tallies, task_type)
    if tally.bounds()[1] < baseline.bounds()[0]:
        return f"gate {tally}, below the offline draft's {baseline}"
    return None


async def record(
    state: Runtime,
    database: Database,
    *,
    provider: ModelProvider,
    model: str,
    task_type: ModelTaskType,
    passed: bool,
) -> None:
    """Count one gate verdict; the router sees it on its next call in this process."""
    row = {
        "provider": ModelProvider(provider),
        "model_name": model,
        "task_type": ModelTaskType(task_type),
        "passed": 1 if passed else 0,
        "failed": 0 if passed else 1,
        "updated_at": utcnow(),
    }
    await database.write(_RECORD[(database.engine.dialect.name, bool(passed))], row)
    state.gates.pop(database.url, None)


async def tallies(state: Runtime, database: Database) -> Tallies:
    """Every model's verdicts, read again after ``REGISTRY_TTL_SECONDS``."""
    cached = state.gates.get(database.url)
    if cached is not None and time.monotonic() - cached[0] < REGISTRY_TTL_SECONDS:
        fresh: Tallies = cached[1]
        return fresh
    columns = _TABLE.c
    query = select(
        columns.provider, columns.model_name, columns.task_type, columns.passed, columns.failed
    )
    async with database.transaction(read_only=True) as session:
        rows = (await session.execute(query)).all()
    found = {
        (provider, name, task): Tally(passed, failed)
        for provider, name, task, passed, failed in rows
    }
    state.gates[database.url] = (time.monotonic(), found)
    return found


async def rates(database: Database) -> list[GateRate]:
    """Every recorded pass rate, by provider, model and task type."""
    async with database.transaction(read_only=True) as session:
        rows = list(
            await session.scalars(
                select(ModelGate).order_by(
                    ModelGate.provider, ModelGate.model_name, ModelGate.task_type
                )
            )
        )
    return [
        GateRate(
            provider=row.provider,
            model=row.model_name,
            task_type=row.task_type,
            passed=row.passed,
            failed=row.failed,
            pass_rate=Tally(row.passed, row.failed).rate,
            updated_at=row.updated_at,
        )
        for row in rows
    ]
