"""The catalogue keeps its targets on the labelled description sets of
benchmarks/understanding.py (type accuracy >= 0.9, team recall >= 0.95, no agent type that
has no place, no task name copied from the description)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.understanding import DATA, measure

SETS = sorted(Path(DATA).parent.glob("understanding*.json"))
# Sets that reach more than the common target keep what they reach.
TYPE_ACCURACY = {"understanding_everyday": 0.95}


@pytest.mark.parametrize("path", SETS, ids=[p.stem for p in SETS])
async def test_understanding_meets_its_targets(models, path):
    found = await measure(models, json.loads(path.read_text(encoding="utf-8")), show=False)
    assert found["type accuracy"] >= TYPE_ACCURACY.get(path.stem, 0.9), found
    assert found["team recall"] >= 0.95, found
    assert found["team violations"] == 0, found
    assert found["copied task names"] == 0, found
