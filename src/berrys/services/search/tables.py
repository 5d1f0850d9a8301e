"""Embedding vectors kept across processes, by embedder and text hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, utcnow


class EmbeddingVector(Base):
    """One text's unit vector from one embedder: little-endian float32 bytes.

    The text itself is not kept, only its hash (``scoring.text_hash``): an edited text has
    another hash, so its old vector is simply never asked for again.
    """

    __tablename__ = "embedding_vector"

    embedder: Mapped[str] = mapped_column(String(200), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    dimensions: Mapped[int]
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
