"""Fixtures of the fuzz tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis' ``from_fixture`` names each operation's subtest through ``node._nodeid``,
    an attribute pytest 9.2 no longer has; give it the node's id to start from."""
    request.node._nodeid = request.node.nodeid
