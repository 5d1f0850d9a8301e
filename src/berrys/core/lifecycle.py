"""Lifecycles: the table of moves an entity's state may make, and its history read back.

A service declares one :class:`Lifecycle` per stateful entity and checks every move with
:meth:`Lifecycle.check`, so an illegal move is refused alike everywhere (409 naming the
allowed next states). Writing a move (the state, its history row, the audit entry) is
``berrys.services.audit.service.record_transition``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page
from berrys.core.errors import InvalidTransition

StateT = TypeVar("StateT", bound=StrEnum)


class Lifecycle(Mapping[StateT, frozenset[StateT]]):
    """Which states may follow each state of an entity; a state with none is final."""

    def __init__(self, entity: str, moves: Mapping[StateT, Iterable[StateT]]) -> None:
        self.entity = entity
        self._moves = {state: frozenset(after) for state, after in moves.items()}

    def __getitem__(self, state: StateT) -> frozenset[StateT]:
        return self._moves[state]

    def __iter__(self) -> Iterator[StateT]:
        return iter(self._moves)

    def __len__(self) -> int:
        return len(self._moves)

    def check(self, current: StateT, requested: StateT) -> None:
        """Refuse a move the table does not allow, naming the moves it does."""
        allowed = self._moves[current]
        if requested not in allowed:
            raise InvalidTransition(self.entity, current, requested, allowed)


class HistoryRow(Protocol):
    """A table with one row per move of an entity (its creation included), with the columns
    ``id`` and ``transitioned_at``."""

    __table__: ClassVar[Table]


async def history_page(
    session: AsyncSession,
    table: type[HistoryRow],
    *,
    of: ColumnElement[bool],
    limit: int,
    offset: int,
) -> tuple[list[Any], int]:
    """One page of the moves ``of`` selects, oldest first, and how many there are."""
    columns = table.__table__.c
    statement = select(table).where(of).order_by(columns.transitioned_at, columns.id)
    return await fetch_page(session, statement, limit=limit, offset=offset)
