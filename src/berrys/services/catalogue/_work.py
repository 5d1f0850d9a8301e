"""The work a breakdown is made of: planned tasks, and the words that match a person's asks
to tasks and roles."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from berrys.core.enums import Priority
from berrys.services.catalogue.contracts import (
    Constraint,
    DependencyType,
    Requirement,
    RiskLevel,
    TeamRole,
    TypeMatch,
)

_STEM = re.compile(r"(?:ies|es|s|ing|ed|ers|er)$")
_STOP = {
    "a", "about", "all", "an", "and", "any", "are", "as", "at", "be", "by", "each", "for",
    "from", "in", "into", "is", "it", "its", "my", "new", "of", "on", "or", "our", "out", "some",
    "that", "the", "their", "this", "to", "up", "with", "your",
    # when, not what: "volunteers from the village next month" asks for volunteers
    "next", "last", "month", "months", "week", "weeks", "year", "years", "today", "tomorrow",
    "tonight", "yesterday", "soon", "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday",
}  # fmt: skip
_CRITICAL = re.compile(r"\b(?:must|essential|critical|required|mandatory)\b", re.I)
_LOW = re.compile(r"\b(?:could|nice to have|maybe|optional|if possible|ideally)\b", re.I)


def words(value: str) -> set[str]:
    """Content words, roughly stemmed, for matching asks to tasks and roles."""
    found = set()
    for word in re.findall(r"[a-z0-9]+", value.lower()):
        if word not in _STOP and len(word) > 2:
            found.add(_STEM.sub("", word) if len(word) > 4 else word)
    return found


@dataclass
class PlannedTask:
    key: str
    name: str
    description: str
    deliverable: str
    role: str  # a key of Breakdown.roles
    hours: float
    priority: Priority
    risk_level: RiskLevel
    risk_reason: str | None
    phase: str
    acceptance: list[str]
    depends_on: list[tuple[str, DependencyType, float]] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)  # words that call for it (when_any)
    release: bool = False
    awaits_release: bool = False


@dataclass
class Breakdown:
    title: str
    types: list[TypeMatch]
    constraints: list[Constraint]
    requirements: list[Requirement]
    roles: dict[str, TeamRole]
    role_requirements: dict[str, list[int]]
    tasks: list[PlannedTask]
    tiny: bool
    notes: list[str] = field(default_factory=list)


def priority(value: str, default: Priority = Priority.HIGH) -> Priority:
    if _CRITICAL.search(value):
        return Priority.CRITICAL
    if _LOW.search(value):
        return Priority.LOW
    return default
