"""``berrys run`` as a user runs it: offline on the embedded defaults, killed and resumed."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

from tests.e2e.processes import BERRYS, berrys_env, run_berrys

DESCRIPTION = "Write a launch plan and announcement for a neighbourhood bakery's new website"


def _env(tmp_path: Path) -> dict[str, str]:
    # The bundled local model is left out: the RULES provider answers offline.
    return berrys_env(tmp_path / "data", BERRYS_LOCAL_MODEL_ENABLED="false")


def test_berrys_run_finishes_offline_with_team_plan_artifacts_and_cost(tmp_path: Path) -> None:
    result = run_berrys("run", DESCRIPTION, "--approve", "auto", "--json", env=_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout)
    run = outcome["run"]
    _honest(outcome)
    assert len(outcome["team"]) >= 2
    assert outcome["plan"]["critical_path"]
    drafted = {artifact["task_run_id"] for artifact in run["artifacts"]}
    assert drafted == {task["id"] for task in run["task_runs"]}  # every task wrote a file
    for artifact in run["artifacts"]:
        assert artifact["produced_by"]
        if artifact["media_type"].startswith("text/"):
            assert Path(artifact["path"]).read_bytes().decode() == artifact["content"]
    assert "cost_usd" in run
    assert outcome["degraded"] == []  # offline the catalogue is the designed path
    # The launch plan and announcement: a checklist, a timeline with its calendar and the
    # announcement, each naming the bakery, with what only a person knows marked TODO.
    paths = {Path(a["path"]).suffix: Path(a["path"]) for a in run["artifacts"]}
    names = " ".join(Path(a["path"]).name for a in run["artifacts"])
    for needed in ("launch-checklist", "timeline", "announcement"):
        assert needed in names, needed
    assert "BEGIN:VCALENDAR" in paths[".ics"].read_text()
    for artifact in run["artifacts"]:
        name = Path(artifact["path"]).name
        if name.endswith(".md") and any(k in name for k in ("checklist", "announcement")):
            text = Path(artifact["path"]).read_text()
            assert "bakery" in text
            assert "TODO(" in text


def _honest(outcome: dict) -> None:
    """Done, and final only where nothing waits for a person: a draft that needs review is
    NEEDS_REVIEW, its run COMPLETED_WITH_REVIEW and the project still IN_PROGRESS."""
    run, review = outcome["run"], outcome["review"]
    statuses = [t["status"] for t in run["task_runs"]]
    assert set(statuses) <= {"COMPLETED", "NEEDS_REVIEW"}
    assert review["final"] == statuses.count("COMPLETED")
    assert review["needs_review"] == statuses.count("NEEDS_REVIEW") == len(review["tasks"])
    if review["needs_review"]:
        assert run["status"] == "COMPLETED_WITH_REVIEW"
        assert outcome["project_status"] == "IN_PROGRESS"
        assert all(task["reasons"] for task in review["tasks"])
        assert any("berrys review accept" in hint for hint in review["make_final"])
    else:
        assert run["status"] == "COMPLETED"
        assert outcome["project_status"] == "COMPLETED"


def test_human_readable_output_names_team_critical_path_outcome_and_cost(tmp_path: Path) -> None:
    result = run_berrys("run", DESCRIPTION, "--approve", "auto", env=_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    for needle in ("Team", "Critical path:", "Artifacts", "Run COMPLETED", "Cost $", "RULES"):
        assert needle in text, needle
    assert re.search(r"\d+ of \d+ deliverables? final", text)
    if "NEEDS_REVIEW" in text:
        assert "Run COMPLETED — project COMPLETED" not in text
        assert "To make them final:" in text


def test_a_killed_run_continues_with_resume(tmp_path: Path) -> None:
    env = _env(tmp_path)
    process = subprocess.Popen(
        [*BERRYS, "run", DESCRIPTION, "--approve", "auto"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run_id = None
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"run\s+started\s+([0-9a-f-]{36})", line)
        if found:
            run_id = found.group(1)
            process.send_signal(signal.SIGKILL)  # as soon as the run exists
            break
    process.wait(timeout=30)
    assert run_id, "the run never started"
    resumed = run_berrys("run", "--resume", run_id, "--approve", "auto", "--json", env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    outcome = json.loads(resumed.stdout)
    assert outcome["run"]["id"] == run_id
    _honest(outcome)
    assert all(t["attempt"] == 1 for t in outcome["run"]["task_runs"])


def test_rejecting_the_plan_cancels_the_run_and_leaves_the_project_to_plan(
    tmp_path: Path,
) -> None:
    result = run_berrys(
        "run", DESCRIPTION, "--plan-approval", "--approve", "never", "--json", env=_env(tmp_path)
    )
    assert result.returncode == 1
    outcome = json.loads(result.stdout)
    assert outcome["run"]["status"] == "CANCELLED"
    assert outcome["project_status"] == "PLANNING"


def test_usage_errors(tmp_path: Path) -> None:
    assert run_berrys("run", env=_env(tmp_path)).returncode == 2
    bad = run_berrys("run", "x", "--approve", "maybe", env=_env(tmp_path))
    assert bad.returncode == 2
    assert "--approve" in bad.stderr
