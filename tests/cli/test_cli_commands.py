"""The CLI in process (typer's CliRunner): the data directory, ``info``, the first admin's
file and ``user reset-password``, no terminal to ask, and ``projects``, ``runs``,
``approvals`` and ``artifacts`` with ``--json`` and at 80 columns, ``workers``."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import uuid
from pathlib import Path

import pytest
from tests.services.runs.scripted import ScriptedExecutor
from typer.testing import CliRunner

from berrys.cli.app import app
from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import HumanInteractionType
from berrys.services.runs import service as runs

DESCRIPTION = "Write a launch plan and announcement for a neighbourhood bakery's new website"


def _env(data_dir: Path, columns: int = 80) -> dict[str, str]:
    return {
        "BERRYS_DATA_DIR": str(data_dir),
        "BERRYS_LOG_LEVEL": "INFO",
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
        "COLUMNS": str(columns),
        "NO_COLOR": "1",
    }


def _fits(text: str, columns: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > columns]
    assert not too_wide, too_wide


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A data directory with one finished offline run (and the first admin it created)."""
    data_dir = tmp_path_factory.mktemp("cli") / "data"
    result = CliRunner().invoke(
        app, ["run", DESCRIPTION, "--approve", "auto", "--json"], env=_env(data_dir)
    )
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)  # stdout is pure JSON: the admin's password is on stderr
    assert "First admin created" in result.stderr
    return {"data_dir": data_dir, "outcome": outcome, "stderr": result.stderr}


def test_the_data_directory_is_per_user_unless_set_or_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BERRYS_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert Settings().data_dir == tmp_path / "xdg" / "berrys"
    (tmp_path / ".berrys").mkdir()
    assert Settings().data_dir == Path(".berrys")
    monkeypatch.setenv("BERRYS_DATA_DIR", str(tmp_path / "elsewhere"))
    assert Settings().data_dir == tmp_path / "elsewhere"


def test_info_names_the_data_directory_database_and_log_file(tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["info", "--json"], env=_env(tmp_path / "data"))
    assert shown.exit_code == 0, shown.output
    facts = json.loads(shown.stdout)
    assert facts["data_dir"] == str((tmp_path / "data").resolve())
    assert facts["data_dir_from"] == "BERRYS_DATA_DIR"
    assert facts["database"].endswith(str((tmp_path / "data" / "berrys.db").resolve()))
    assert facts["log_file"] == str((tmp_path / "data" / "berrys.log").resolve())
    human = runner.invoke(app, ["info"], env=_env(tmp_path / "data"))
    assert "Data directory:" in human.stdout
    assert "Database:" in human.stdout


def test_without_a_terminal_run_stops_before_any_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", DESCRIPTION], env=_env(tmp_path / "data"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--approve auto" in lines[0]
    assert "--approve never" in lines[0]
    assert not (tmp_path / "data" / "berrys.db").exists()  # nothing was started


def test_first_admin_password_is_kept_in_a_private_file_and_can_be_reset(finished) -> None:
    data_dir = finished["data_dir"]
    kept = data_dir / "admin-password.txt"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    text = kept.read_text()
    password = text.split("password: ")[1].split()[0]
    assert password in finished["stderr"]
    assert "admin@berrys.local" in text
    runner = CliRunner()
    short = runner.invoke(
        app, ["user", "reset-password", "admin@berrys.local"], input="short\n", env=_env(data_dir)
    )
    assert short.exit_code == 2
    reset = runner.invoke(
        app,
        ["user", "reset-password", "admin@berrys.local"],
        input="a new long password\n",
        env=_env(data_dir),
    )
    assert reset.exit_code == 0, reset.output
    assert "a new long password" not in reset.output
    assert not kept.exists()  # its one-time password is no longer true

    async def _login() -> None:
        from berrys.services.auth import service as auth

        settings = Settings(data_dir=data_dir)
        database = Database(settings.resolved_database_url)
        try:
            token = await auth.login(
                database,
                settings,
                email="admin@berrys.local",
                password="a new long password",
                client=None,
            )
            assert token.access_token
        finally:
            await database.dispose()

    asyncio.run(_login())
    unknown = runner.invoke(
        app,
        ["user", "reset-password", "nobody@example.com"],
        input="long enough pw\n",
        env=_env(data_dir),
    )
    assert unknown.exit_code == 1
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_projects_and_runs_list_show_as_json_and_at_80_columns(finished) -> None:
    data_dir, outcome = finished["data_dir"], finished["outcome"]
    runner = CliRunner()
    env = _env(data_dir)
    listed = json.loads(runner.invoke(app, ["projects", "list", "--json"], env=env).stdout)
    assert [p["id"] for p in listed["items"]] == [outcome["project_id"]]
    shown = json.loads(
        runner.invoke(app, ["projects", "show", outcome["project_id"], "--json"], env=env).stdout
    )
    assert [r["id"] for r in shown["runs"]] == [outcome["run"]["id"]]
    human = runner.invoke(app, ["projects", "list"], env=env)
    assert human.exit_code == 0
    assert outcome["project_id"][:8] in human.stdout
    _fits(human.stdout)

    runs = json.loads(runner.invoke(app, ["runs", "list", "--json"], env=env).stdout)
    assert [r["id"] for r in runs] == [outcome["run"]["id"]]
    prefix = outcome["run"]["id"][:8]
    one = json.loads(runner.invoke(app, ["runs", "show", prefix, "--json"], env=env).stdout)
    assert one["id"] == outcome["run"]["id"]
    assert len(one["task_runs"]) == len(outcome["run"]["task_runs"])
    for command in (["runs", "list"], ["runs", "show", prefix], ["projects", "show", prefix]):
        result = runner.invoke(app, command, env=env)
        if command[0] == "projects":  # a run id is not a project: one line, exit 1
            assert result.exit_code == 1
            assert len(result.stderr.strip().splitlines()) == 1
            continue
        assert result.exit_code == 0, result.output
        _fits(result.stdout)
    shown_run = runner.invoke(app, ["runs", "show", prefix], env=env).stdout
    table = shown_run.split("Cost $")[0].replace("\n", "")
    assert "workspaces/" in table  # paths relative to the data directory
    assert str(data_dir.resolve()) not in table
    wide = runner.invoke(app, ["runs", "show", prefix, "--wide"], env=_env(data_dir, 400))
    assert outcome["run"]["artifacts"][0]["path"] in wide.stdout


def test_artifacts_list_and_show(finished) -> None:
    data_dir, outcome = finished["data_dir"], finished["outcome"]
    runner = CliRunner()
    env = _env(data_dir)
    listed = json.loads(runner.invoke(app, ["artifacts", "list", "--json"], env=env).stdout)
    assert listed["run_id"] == outcome["run"]["id"]
    assert {a["id"] for a in listed["items"]} == {a["id"] for a in outcome["run"]["artifacts"]}
    human = runner.invoke(app, ["artifacts", "list", outcome["run"]["id"]], env=env)
    assert human.exit_code == 0, human.output
    _fits(human.stdout)
    first = outcome["run"]["artifacts"][0]
    shown = runner.invoke(app, ["artifacts", "show", first["id"][:8]], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.rstrip("\n") == first["content"].rstrip("\n")
    as_json = json.loads(
        runner.invoke(app, ["artifacts", "show", first["id"], "--json"], env=env).stdout
    )
    assert as_json["id"] == first["id"]
    missing = runner.invoke(app, ["artifacts", "show", "ffffffff"], env=env)
    assert missing.exit_code == 1
    assert "No artifact" in missing.stderr


def test_approvals_list_and_answer_and_a_viewer_cannot_answer(finished) -> None:
    data_dir, outcome = finished["data_dir"], finished["outcome"]
    runner = CliRunner()
    env = _env(data_dir)

    async def _ask() -> str:
        database = Database(Settings(data_dir=data_dir).resolved_database_url)
        try:
            async with database.transaction() as session:
                asked = await interactions.create(
                    session,
                    type=HumanInteractionType.APPROVAL,
                    project_id=uuid.UUID(outcome["project_id"]),
                    title="Publish the announcement",
                    prompt="It goes out to every customer.",
                    details={"risk": "HIGH", "rules": ["publishes outside"]},
                )
            return str(asked.id)
        finally:
            await database.dispose()

    approval = asyncio.run(_ask())
    listed = json.loads(runner.invoke(app, ["approvals", "list", "--json"], env=env).stdout)
    assert [a["id"] for a in listed] == [approval]
    human = runner.invoke(app, ["approvals", "list"], env=env)
    assert "Publish" in human.stdout
    assert "HIGH" in human.stdout
    _fits(human.stdout)
    created = runner.invoke(
        app,
        ["user", "create", "--email", "viewer@example.com", "--role", "viewer"],
        input="long enough pw\n",
        env=env,
    )
    assert created.exit_code == 0, created.output
    refused = runner.invoke(
        app,
        ["approvals", "answer", approval[:8], "--approve", "--as", "viewer@example.com"],
        env=env,
    )
    assert refused.exit_code == 1
    assert "can only read" in refused.stderr
    assert (
        json.loads(
            runner.invoke(
                app, ["approvals", "list", "--json", "--as", "viewer@example.com"], env=env
            ).stdout
        )
        == []
    )
    answered = runner.invoke(
        app, ["approvals", "answer", approval[:8], "--reject", "--json"], env=env
    )
    assert answered.exit_code == 0, answered.output
    assert json.loads(answered.stdout)["status"] != "PENDING"
    assert json.loads(runner.invoke(app, ["approvals", "list", "--json"], env=env).stdout) == []


def test_runs_cancel(finished) -> None:
    data_dir, outcome = finished["data_dir"], finished["outcome"]
    runner = CliRunner()
    # A finished run cannot be cancelled: one line naming why, no traceback.
    result = runner.invoke(app, ["runs", "cancel", outcome["run"]["id"]], env=_env(data_dir))
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_log_lines_go_to_the_log_file_not_the_output(finished) -> None:
    log = finished["data_dir"] / "berrys.log"
    assert "llm.complete" in log.read_text() or "workflow" in log.read_text()
    assert "llm.complete" not in finished["stderr"]
    assert os.path.getsize(log) > 0


def test_workers_lists_the_live_ones_to_an_admin_only(finished) -> None:
    env = _env(finished["data_dir"], 160)
    runner = CliRunner()
    created = runner.invoke(
        app,
        ["user", "create", "--email", "member@example.com", "--role", "member"],
        input="long enough pw\n",
        env=env,
    )
    assert created.exit_code == 0, created.output
    settings = Settings(data_dir=finished["data_dir"], _env_file=None)

    async def _while_a_worker_runs() -> tuple:
        database = Database(settings.resolved_database_url)
        worker = runs.Worker(database, ScriptedExecutor(), hooks=runs.HOOKS, worker_id="w-cli")
        running = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.ready.wait(), 10)
            shown = await asyncio.to_thread(runner.invoke, app, ["workers", "--json"], env=env)
            human = await asyncio.to_thread(runner.invoke, app, ["workers"], env=env)
        finally:
            worker.stop()
            await running
            await database.dispose()
        return shown, human

    shown, human = asyncio.run(_while_a_worker_runs())
    assert shown.exit_code == 0, shown.output
    (listed,) = json.loads(shown.stdout)["workers"]
    assert (listed["id"], listed["pid"], listed["tasks_held"]) == ("w-cli", os.getpid(), 0)
    assert "w-cli" in human.stdout
    assert "1 live" in human.stdout
    gone = json.loads(runner.invoke(app, ["workers", "--json"], env=env).stdout)
    assert gone == {"workers": [], "providers": []}
    refused = runner.invoke(app, ["workers", "--as", "member@example.com"], env=env)
    assert refused.exit_code == 1
    assert "Only an ADMIN" in refused.stderr
