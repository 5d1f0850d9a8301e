"""Embedding vectors stored in the database, so that no process embeds a text twice.

:mod:`scoring` keeps its in-memory cache in front: it reads here, in one query, the vectors of
the texts it has not seen, and writes here the vectors it has just embedded (one executemany
insert; a row another process stored meanwhile is left as it is). Each read and each write
is its own short transaction: none is held while a text is embedded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import structlog
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from berrys.core.db import Database, utcnow
from berrys.services.llm.tables import EmbeddingVector

_log = structlog.get_logger("berrys.llm.vectors")

# Stored little-endian whatever the machine, so a file or database can move.
DTYPE = np.dtype("<f4")
# Hashes per SELECT, below SQLite's (32,766) and asyncpg's (32,767) bound-parameter limits.
CHUNK = 10_000

_TABLE = EmbeddingVector.__table__
_KEY = [_TABLE.c.embedder, _TABLE.c.text_hash]
_INSERT = {
    "sqlite": sqlite.insert(_TABLE).on_conflict_do_nothing(index_elements=_KEY),
    "postgresql": postgresql.insert(_TABLE).on_conflict_do_nothing(index_elements=_KEY),
}
_SELECT = select(_TABLE.c.text_hash, _TABLE.c.dimensions, _TABLE.c.vector)


async def load(
    database: Database, *, embedder: str, hashes: Sequence[str]
) -> dict[str, np.ndarray]:
    """The stored vectors among ``hashes``, by hash (unreadable rows and failures: none)."""
    found: dict[str, np.ndarray] = {}
    if not hashes:
        return found
    try:
        async with database.transaction(read_only=True) as session:
            for start in range(0, len(hashes), CHUNK):
                rows = await session.execute(
                    _SELECT.where(
                        _TABLE.c.embedder == embedder,
                        _TABLE.c.text_hash.in_(hashes[start : start + CHUNK]),
                    )
                )
                for text_hash, dimensions, blob in rows:
                    vector = np.frombuffer(blob, dtype=DTYPE)
                    if vector.shape == (dimensions,):
                        found[text_hash] = vector
    except Exception as exc:  # the embedder still answers; the texts are embedded again
        _log.warning("search.vectors_load_failed", error=str(exc), wanted=len(hashes))
    return found


async def save(database: Database, *, embedder: str, vectors: Mapping[str, np.ndarray]) -> None:
    """Store ``vectors`` by hash; ones already stored (by another process) are kept."""
    if not vectors:
        return
    now = utcnow()
    rows = [
        {
            "embedder": embedder,
            "text_hash": text_hash,
            "dimensions": int(vector.shape[0]),
            "vector": np.ascontiguousarray(vector, dtype=DTYPE).tobytes(),
            "created_at": now,
        }
        for text_hash, vector in vectors.items()
    ]
    try:
        async with database.transaction() as session:
            await session.execute(_INSERT[database.engine.dialect.name], rows)
    except Exception as exc:  # the vectors stay in memory; another process embeds them again
        _log.warning("search.vectors_save_failed", error=str(exc), count=len(rows))
