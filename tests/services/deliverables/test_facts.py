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
        # the list turns into a clause of its own: "fill in", "see", "scan in" are no records
        ("Patients can book appointments, fill in intake forms and pay deposits", ["appointments"]),
        ("Members can book classes and scan in at the door", ["classes"]),
        (
            "Staff log a return, its condition and refund status, and managers see a summary",
            ["return"],
        ),
        # a second verb keeps its object: "share photos"
        ("An app to log walks and share photos with owners", ["walks", "photos"]),
        # "store", "model" used as nouns: "our Shopify store", "in-store", "a model for our"
        ("Sync orders from our Shopify store into Xero every night", []),
        ("Instagram and in-store sampling, budget $40,000", []),
        ("A three-year financial model for our subscription box startup", []),
        # one record named twice is one record
        ("Track returns in a tool where staff log a return", ["returns"]),
    ],
)
def test_the_records_a_description_names(description: str, expected: list[str]) -> None:
    assert entities_in(description) == expected
