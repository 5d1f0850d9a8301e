"""Embedding vectors are stored: a restarted process (or another one) embeds no text twice."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest
from sqlalchemy import func, select

from berrys.services.llm import _scoring, _vectors
from berrys.services.llm import service as llm
from berrys.services.llm.tables import EmbeddingVector
from berrys.services.tools import service as tools

URL = "/api/v1/search/similar"

PROJECTS = {
    "Bakery website": "A website for my bakery with online orders for bread and cakes.",
    "Tax report": "Prepare the yearly tax declaration and collect receipts for the accountant.",
    "Podcast launch": "Record, edit and publish the first ten episodes of a history podcast.",
}
QUERY = "bread shop online ordering"


class Counting:
    """The platform's embedder, noting every batch of texts it is asked for."""

    def __init__(self, embedder: llm.Embedder, calls: list[list[str]]) -> None:
        self.name, self.provider = embedder.name, embedder.provider
        self._embedder, self._calls = embedder, calls

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self._calls.append(list(texts))
        return await self._embedder.embed(texts)


@pytest.fixture
def embedded(app, services, client) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """Every batch of texts the app's embedder is asked for (it still embeds them)."""
    calls: list[list[str]] = []
    assert services.embedder is not None
    app.state.services = dataclasses.replace(services, embedder=Counting(services.embedder, calls))
    return calls


def _texts(calls: list[list[str]]) -> list[str]:
    return [text for batch in calls for text in batch]


def _restart() -> None:
    """What a new process starts with: nothing in memory."""
    _scoring.cache.clear()


async def _stored(database) -> int:
    async with database.transaction(read_only=True) as session:
        return await session.scalar(select(func.count()).select_from(EmbeddingVector))


async def _create(client, actor, name: str, description: str) -> str:
    response = await client.post(
        "/api/v1/projects", json={"name": name, "description": description}, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _search(client, actor, q: str = QUERY) -> dict:
    response = await client.get(URL, params={"q": q, "kind": "PROJECT"}, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _ranking(result: dict) -> list[tuple[str, float | None]]:
    return [(hit["id"], hit["similarity"]) for hit in result["items"]]


async def test_a_restarted_process_embeds_only_the_query(client, member, database, embedded):
    for name, description in PROJECTS.items():
        await _create(client, member, name, description)
    _restart()
    first = await _search(client, member)
    assert first["pending"] == 0
    assert len(_texts(embedded)) == 1 + len(PROJECTS)  # the query, then every project
    assert await _stored(database) == len(PROJECTS)  # the texts' vectors, not the query's

    _restart()
    embedded.clear()
    again = await _search(client, member)
    assert embedded == [[QUERY]]
    assert again["pending"] == 0
    assert _ranking(again) == _ranking(first)
    assert again["items"][0]["name"] == "Bakery website"

    embedded.clear()  # and in the same process, nothing at all
    assert _ranking(await _search(client, member)) == _ranking(first)
    assert embedded == []


async def test_an_edited_text_is_embedded_and_stored(client, member, database, embedded):
    ids = {name: await _create(client, member, name, text) for name, text in PROJECTS.items()}
    _restart()
    await _search(client, member)
    edited = await client.patch(
        f"/api/v1/projects/{ids['Tax report']}",
        json={"description": "An online shop selling sourdough bread."},
        headers=member.headers,
    )
    assert edited.status_code == 200, edited.text

    _restart()
    embedded.clear()
    result = await _search(client, member)
    assert embedded == [[QUERY], ["Tax report. An online shop selling sourdough bread."]]
    assert await _stored(database) == len(PROJECTS) + 1  # the old text's vector stays unused
    assert {hit["name"] for hit in result["items"][:2]} == {"Bakery website", "Tax report"}

    _restart()
    embedded.clear()
    await _search(client, member)
    assert embedded == [[QUERY]]


async def test_vectors_embedded_in_the_background_are_stored(
    client, member, database, embedded, monkeypatch, services
):
    from berrys.services.search import service

    for name, description in PROJECTS.items():
        await _create(client, member, name, description)
    monkeypatch.setattr(service, "EMBED_BUDGET_SECONDS", 0.0)
    monkeypatch.setattr(_scoring, "BATCH", 2)
    _restart()
    partial = await _search(client, member)
    assert partial["pending"] == len(PROJECTS) - 2
    await services.models.warming.settle()
    assert await _stored(database) == len(PROJECTS)

    _restart()
    embedded.clear()
    full = await _search(client, member)
    assert embedded == [[QUERY]]
    assert full["pending"] == 0


async def test_tool_discovery_reads_the_stored_vectors(client, member, database, embedded):
    async with database.transaction() as session:
        await tools.ensure_builtin_tools(session)
    body = {"query": "read a file from the workspace"}
    _restart()
    first = await client.post("/api/v1/tools/discover", json=body, headers=member.headers)
    assert first.status_code == 200, first.text
    assert first.json()["semantic"] is True
    count = await _stored(database)
    assert count == len(_texts(embedded)) - 1 > 0

    _restart()
    embedded.clear()
    again = await client.post("/api/v1/tools/discover", json=body, headers=member.headers)
    assert embedded == [[body["query"]]]
    assert [c["name"] for c in again.json()["candidates"]] == [
        c["name"] for c in first.json()["candidates"]
    ]


async def test_concurrent_stores_keep_the_first_vector(database):
    key = _scoring.text_hash("some text")
    first = np.array([0.6, 0.8], dtype=np.float32)
    await asyncio.gather(
        _vectors.save(database, embedder="test", vectors={key: first}),
        _vectors.save(database, embedder="test", vectors={key: first}),
    )
    await _vectors.save(database, embedder="test", vectors={key: np.array([1.0, 0.0])})
    loaded = await _vectors.load(database, embedder="test", hashes=[key, "unknown"])
    assert list(loaded) == [key]
    np.testing.assert_array_equal(loaded[key], first)
    assert await _vectors.load(database, embedder="another", hashes=[key]) == {}


async def test_unnamed_embedders_are_not_stored(database):
    async def embed(texts: list[str]) -> list[list[float]]:
        return [[float(len(text)), 1.0] for text in texts]

    scores, missing = await _scoring.similarities(
        "query", ["one", "three"], source=embed, embed=embed, database=database
    )
    assert missing == []
    assert all(s is not None for s in scores)
    assert await _stored(database) == 0
