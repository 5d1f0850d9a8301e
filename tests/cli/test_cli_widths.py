"""``berrys plan show`` at 80 and 120 columns: agent names whole, every line within the
terminal, the chart beside the tasks or under them; and a broken MCP server is one line
on stderr, never a traceback."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from tests.services.planning.test_planning_cli import _prepare
from typer.testing import CliRunner

from berrys.cli.app import app

AS = ["--as", "ops@example.com"]
GARBAGE = str(Path(__file__).parents[1] / "services" / "tools" / "servers" / "garbage_server.py")


def _env(data_dir, columns: int) -> dict[str, str]:
    return {
        "BERRYS_DATA_DIR": str(data_dir),
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
        "COLUMNS": str(columns),
        "NO_COLOR": "1",
    }


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory):
    """A data directory with a project, its generated team and plan."""
    data_dir = tmp_path_factory.mktemp("plan-widths")
    asyncio.run(_prepare(f"sqlite+aiosqlite:///{data_dir / 'berrys.db'}"))
    runner = CliRunner()
    for command in (["agents", "generate", "bakery"], ["plan", "generate", "bakery"]):
        done = runner.invoke(app, [*command, *AS], env=_env(data_dir, 120))
        assert done.exit_code == 0, done.output
    team = runner.invoke(app, ["agents", "list", "bakery", "--json", *AS], env=_env(data_dir, 120))
    plan = runner.invoke(app, ["plan", "show", "bakery", "--json", *AS], env=_env(data_dir, 120))
    return {
        "data_dir": data_dir,
        "agents": {agent["id"]: agent["name"] for agent in json.loads(team.stdout)},
        "plan": json.loads(plan.stdout),
    }


@pytest.mark.parametrize("columns", [80, 120])
def test_plan_show_fits_and_names_every_agent_in_full(planned, columns):
    shown = CliRunner().invoke(
        app, ["plan", "show", "bakery", "--seed", "1", *AS], env=_env(planned["data_dir"], columns)
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    tasks = planned["plan"]["plan"]["tasks"]
    assigned = {planned["agents"][t["assigned_agent_id"]] for t in tasks if t["assigned_agent_id"]}
    assert assigned
    for name in assigned:  # whole, not cut to "W…"
        assert name in shown.stdout, name
    chart = lines[: next(n for n, line in enumerate(lines) if line.startswith("Critical path"))]
    rows = [line for line in chart if line[:3].strip().isdigit()]
    assert len([line for line in rows if "█" in line]) == len(tasks)  # a bar for every task
    # At 120 columns the chart is beside the tasks; at 80 it is a table of its own under them.
    assert len(rows) == (1 if columns == 120 else 2) * len(tasks)
    assert "Critical path" in shown.stdout


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize(
    ("server", "words"),
    [
        (
            [
                "-c",
                "import sys; sys.stderr.write('Traceback (most recent call last):\\n"
                '  File "server.py", line 1\\nValueError: bad config\\n\'); sys.exit(2)',
            ],
            "its stderr ends: ValueError: bad config",
        ),
        ([GARBAGE, "noise"], "did not finish connecting within 2s"),
    ],
    ids=["crashes", "garbage"],
)
def test_a_broken_mcp_server_is_one_line(tmp_path, columns, server, words):
    env = _env(tmp_path, columns)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    added = runner.invoke(
        app,
        ["tools", "add-mcp", "broken", "--timeout", "2", "--", sys.executable, *server],
        env=env,
    )
    assert added.exit_code == 1
    lines = [line for line in added.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, added.stderr
    assert lines[0].startswith("Service unavailable: MCP server 'broken': ")
    assert words in lines[0]
    assert "Traceback" not in added.output
