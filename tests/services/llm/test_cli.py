"""``berrys models list | test | usage`` on a migrated SQLite file, and cassettes."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from berrys.cli.app import app
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.llm._providers.local import bundled_model_path

HAS_LOCAL = importlib.util.find_spec("llama_cpp") is not None and bundled_model_path() is not None


def _migrated(folder: Path) -> dict[str, str]:
    async def upgrade() -> None:
        database = Database(f"sqlite+aiosqlite:///{folder / 'berrys.db'}")
        try:
            await migrate.upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(upgrade())
    return {"BERRYS_DATA_DIR": str(folder), "BERRYS_LOG_LEVEL": "WARNING"}


def test_list_without_local_model(tmp_path: Path) -> None:
    env = {**_migrated(tmp_path), "BERRYS_LOCAL_MODEL_ENABLED": "false"}
    result = CliRunner().invoke(app, ["models", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(m["provider"], m["name"]) for m in listed["models"]] == [("RULES", "rules")]
    assert listed["unavailable"]["LOCAL"] == "not configured"
    answered = CliRunner().invoke(app, ["models", "test"], env=env)
    assert answered.exit_code == 1  # nothing can answer free text: said plainly
    assert "No model can answer" in answered.output


@pytest.mark.skipif(not HAS_LOCAL, reason="berrys[local] is not installed")
def test_models_test_answers_from_the_local_model_then_usage_and_cassette(
    tmp_path: Path,
) -> None:
    env = {**_migrated(tmp_path), "BERRYS_LOCAL_MODEL_ENABLED": "true"}
    cassette = tmp_path / "cassette.json"
    runner = CliRunner()
    recorded = runner.invoke(
        app,
        ["models", "test", "--json", "--max-tokens", "16", "--prompt", "Say hi."],
        env={**env, "BERRYS_LLM_CASSETTE": str(cassette), "BERRYS_LLM_CASSETTE_MODE": "record"},
    )
    assert recorded.exit_code == 0, recorded.output
    answer = json.loads(recorded.output)
    assert (answer["provider"], answer["model"]) == ("LOCAL", "smollm2-135m-instruct")
    assert answer["content"].strip()

    usage = runner.invoke(app, ["models", "usage", "--json"], env=env)
    report = json.loads(usage.output)
    assert report["total"]["requests"] == 1
    assert report["requests"][0]["provider"] == "LOCAL"

    # Replay: no local model at all, the same request is answered from the cassette ...
    replay_env = {
        **env,
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
        "BERRYS_LLM_CASSETTE": str(cassette),
    }
    replayed = runner.invoke(
        app,
        ["models", "test", "--json", "--max-tokens", "16", "--prompt", "Say hi."],
        env=replay_env,
    )
    assert replayed.exit_code == 0, replayed.output
    again = json.loads(replayed.output)
    assert (again["provider"], again["model"]) == ("SCRIPTED", "cassette")
    assert again["content"] == answer["content"]
    # ... and a request it has not recorded fails loudly
    missing = runner.invoke(
        app, ["models", "test", "--prompt", "Something else entirely."], env=replay_env
    )
    assert missing.exit_code != 0
    assert "CassetteMiss" in repr(missing.exception)
