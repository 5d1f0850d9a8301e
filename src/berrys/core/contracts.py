"""Contract types shared by every service: pages of items and constrained strings."""

from __future__ import annotations

import math
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

Item = TypeVar("Item")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=20_000)]

# The largest INTEGER / BIGINT every supported database stores: a bound on each integer a
# client sends, so an out-of-range value is a 422 naming the range, never an overflow (500).
MAX_INT = 2**31 - 1
MAX_BIGINT = 2**63 - 1


def _reject_nul(value: Any) -> None:
    """NUL characters and non-finite numbers (``NaN``, ``Infinity``, ``1e309``) anywhere."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL (\\u0000) characters")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite (NaN and Infinity are not JSON)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_nul(item)


class Contract(BaseModel):
    """Base of every request and response model: reads ORM rows, rejects unknown fields,
    and refuses NUL characters anywhere (PostgreSQL stores none: a 422, never a 500) and
    non-finite numbers anywhere, also as strings in float fields (they are not JSON)."""

    model_config = ConfigDict(from_attributes=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        _reject_nul(data)
        return data


class ListOf(Contract, Generic[Item]):
    items: list[Item]
    total: int
