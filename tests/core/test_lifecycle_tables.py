"""A lifecycle table refuses a move it does not list, naming the moves it does."""

from __future__ import annotations

import pytest

from berrys.core.errors import InvalidTransition
from berrys.core.lifecycle import Lifecycle
from berrys.services.agents.contracts import MessageStatus as M

MESSAGES = Lifecycle[M]("Message", {M.CREATED: {M.DELIVERED, M.FAILED}, M.FAILED: set()})


def test_a_listed_move_passes_and_the_table_reads_as_a_mapping():
    MESSAGES.check(M.CREATED, M.DELIVERED)
    assert MESSAGES[M.CREATED] == {M.DELIVERED, M.FAILED}
    assert dict(MESSAGES) == {M.CREATED: {M.DELIVERED, M.FAILED}, M.FAILED: frozenset()}


def test_an_unlisted_move_is_refused_naming_the_allowed_ones():
    with pytest.raises(InvalidTransition) as refused:
        MESSAGES.check(M.CREATED, M.PROCESSED)
    assert refused.value.extra["allowed"] == ["DELIVERED", "FAILED"]
    assert "Message cannot move from CREATED to PROCESSED" in str(refused.value.detail)


def test_a_final_state_allows_nothing():
    with pytest.raises(InvalidTransition, match="none \\(terminal state\\)"):
        MESSAGES.check(M.FAILED, M.DELIVERED)
