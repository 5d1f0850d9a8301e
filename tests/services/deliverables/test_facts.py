"""What a description says the project keeps records of."""

from __future__ import annotations

import pytest

from berrys.services.deliverables._facts import entities_in


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("A tool to track book loans and members", ["book loans", "members"]),
        ("So members of our tennis club can reserve courts online", ["courts"]),
        ("An app to book rooms and order lunches for staff", ["rooms", "lunches"]),
        ("Manage orders, customers and stock", ["orders", "customers", "stock"]),
        # "catalogue" as a noun: a product catalogue with variants keeps no "with variants"
        ("Prepare the product catalogue with variants, prices and stock", []),
    ],
)
def test_the_records_a_description_names(description: str, expected: list[str]) -> None:
    assert entities_in(description) == expected
