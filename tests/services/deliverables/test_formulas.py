"""A table's formulas as the text view computes them (the workbook keeps them as formulas)."""

from __future__ import annotations

import pytest

from berrys.services.deliverables._formats import evaluate

NAMES = ["Item", "Hours", "Rate", "Cost"]


@pytest.mark.parametrize(
    ("formula", "value"),
    [
        ("={col:Hours}*{col:Rate}", 258.44),
        ("=ROUND({col:Hours}*{col:Rate}, 1)", 258.4),  # with its digits it had no value
        ("=ROUND({col:Hours})", 4.0),
        ("=SUM({col:Hours}:{col:Rate})", 74.64),
        ("=ABS(-{col:Hours})", 3.64),
        ("=MAX({col:Hours}, 10)", 10.0),
    ],
)
def test_a_formula_has_the_value_a_spreadsheet_gives(formula, value):
    cells = {"Hours": 3.64, "Rate": 71.0}
    assert evaluate(formula, cells, {}, NAMES) == pytest.approx(value)


@pytest.mark.parametrize("formula", ["=ROUND()", "=ROUND(1, 2, 3)", "=ABS()", "=POW(2, 3)"])
def test_a_call_that_is_no_formula_has_no_value(formula):
    assert evaluate(formula, {}, {}, NAMES) is None


def test_an_empty_cell_leaves_the_formula_without_value():
    assert evaluate("=ROUND({col:Hours}, 2)", {"Hours": None}, {}, NAMES) is None
