"""Understanding software and business descriptions: the symptom words of slow software, and
a second type blended in only on evidence of its own."""

from __future__ import annotations

import pytest

from berrys.services.catalogue import service as catalogue


async def test_a_page_that_takes_forever_is_performance_work_not_a_new_dashboard(models):
    understood = await catalogue.understand(
        models,
        "the reporting dashboard takes forever to load since we passed 10k users, make it "
        "fast again",
    )
    assert [t.key for t in understood.types] == ["performance"]


@pytest.mark.parametrize(
    ("description", "only"),
    [
        (
            "Our warehouse team tracks returns in a shared spreadsheet. Replace it with a small "
            "internal tool where staff log a return, its condition and refund status, and "
            "managers see a weekly summary.",
            "internal_tool",
        ),
        (
            "A React Native app for dog walkers to log walks with GPS and share photos with owners",
            "mobile_app",
        ),
    ],
)
async def test_one_supporting_word_does_not_blend_in_a_second_type(models, description, only):
    understood = await catalogue.understand(models, description)
    assert [t.key for t in understood.types] == [only]
