"""``berrys alerts``: add, list, episodes and rm in process (typer's CliRunner), a bad
parameter named, and a VIEWER refused."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from berrys.cli.app import app


def _env(data_dir: Path) -> dict[str, str]:
    return {
        "BERRYS_DATA_DIR": str(data_dir),
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
        "COLUMNS": "80",
        "NO_COLOR": "1",
    }


def test_add_list_and_remove_a_rule(tmp_path: Path) -> None:
    runner, env = CliRunner(), _env(tmp_path / "data")
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    for email, role in (("admin@berrys.local", "admin"), ("viewer@example.com", "viewer")):
        created = runner.invoke(
            app,
            ["user", "create", "--email", email, "--role", role],
            input="correct horse battery\n",
            env=env,
        )
        assert created.exit_code == 0, created.output

    added = runner.invoke(
        app,
        [
            "alerts",
            "add",
            "Stalled runs",
            "--kind",
            "run_stalled",
            "--param",
            "idle_minutes=15",
            "--json",
        ],
        env=env,
    )
    assert added.exit_code == 0, added.output
    rule = json.loads(added.stdout)
    assert rule["condition"] == {"kind": "RUN_STALLED", "idle_minutes": 15}
    assert rule["project_id"] is None

    bad = runner.invoke(
        app, ["alerts", "add", "x", "--kind", "run_stalled", "--param", "idle_minutes=0"], env=env
    )
    assert bad.exit_code == 1
    assert "condition.RUN_STALLED.idle_minutes" in bad.stderr
    refused = runner.invoke(
        app,
        ["alerts", "add", "x", "--kind", "budget_spent", "--as", "viewer@example.com"],
        env=env,
    )
    assert refused.exit_code == 1
    assert "can only read" in refused.stderr

    listed = runner.invoke(app, ["alerts", "list"], env=env)
    assert "Stalled runs" in listed.stdout
    assert "global" in listed.stdout
    assert all(len(line) <= 80 for line in listed.stdout.splitlines())
    viewer = runner.invoke(app, ["alerts", "list", "--json", "--as", "viewer@example.com"], env=env)
    assert json.loads(viewer.stdout) == []  # a global rule is an ADMIN's
    assert "No alert has fired" in runner.invoke(app, ["alerts", "episodes"], env=env).stdout

    removed = runner.invoke(app, ["alerts", "rm", rule["id"][:8]], env=env)
    assert removed.exit_code == 0, removed.output
    assert json.loads(runner.invoke(app, ["alerts", "list", "--json"], env=env).stdout) == []
