"""Contract types shared by every service: pages of items and constrained strings."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints

Item = TypeVar("Item")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=20_000)]


class Contract(BaseModel):
    """Base of every request and response model: reads ORM rows, rejects unknown fields."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


class ListOf(Contract, Generic[Item]):
    items: list[Item]
    total: int
