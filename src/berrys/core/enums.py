"""The base of every enum of Berrys, and the one enum several services share.

Each enum lives in the ``contracts`` module of the service that defines its concept (a
project's status in ``projects``, a run's in ``runs``); an enum a lower service needs lives
at that lower service. Values are UPPERCASE. Input is case-insensitive: ``"draft"`` is
accepted as ``DRAFT`` and the request is answered with a deprecation warning (see
:func:`take_deprecations`); an unknown value fails validation, and the 422 lists the allowed
values.
"""

from __future__ import annotations

from contextvars import ContextVar
from enum import StrEnum
from typing import Any

import structlog

_log = structlog.get_logger("berrys.enums")

# The request middleware puts a fresh list here; enum coercion appends to it.
_deprecations: ContextVar[list[str] | None] = ContextVar("berrys_enum_deprecations", default=None)


def start_collecting_deprecations() -> list[str]:
    notes: list[str] = []
    _deprecations.set(notes)
    return notes


class BerrysEnum(StrEnum):
    """A str enum whose lookup ignores case and reports non-canonical spellings."""

    @classmethod
    def _missing_(cls, value: Any) -> BerrysEnum | None:
        if not isinstance(value, str):
            return None
        member = cls.__members__.get(value.strip().upper())
        if member is None:
            return None
        note = (
            f"Lowercase enum value {value!r} provided for {cls.__name__}. "
            f"Use the uppercase value {member.value!r}; lowercase support will be removed."
        )
        _log.warning("enum.lowercase_value", enum=cls.__name__, value=value, use=member.value)
        notes = _deprecations.get()
        if notes is not None:
            notes.append(note)
        return member

    @classmethod
    def allowed(cls) -> list[str]:
        return [member.value for member in cls]


# Shared, not owned: the one scale by which the catalogue ranks requirements and proposed
# work, planning ranks tasks and interactions rank a person's questions; none of these
# services defines it for the others.
class Priority(BerrysEnum):
    """Priority of requirements and tasks."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"
