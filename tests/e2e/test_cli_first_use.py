"""``berrys`` where the process is the point: Ctrl-C pauses a run (a second leaves at once),
a port in use is one line, and a resumed run's summary is the first run's."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import threading
from pathlib import Path

from tests.e2e.processes import BERRYS, berrys_env, run_berrys

DESCRIPTION = "Write a launch plan and announcement for a neighbourhood bakery's new website"


def _env(tmp_path: Path) -> dict[str, str]:
    return berrys_env(tmp_path / "data", BERRYS_LOCAL_MODEL_ENABLED="false", COLUMNS="80")


class _Lines:
    """A process's output read on a thread, waited on line by line with a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stream = process.stdout

        def _read() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=_read, daemon=True).start()

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        while True:
            line = self._queue.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"{pattern!r} never came:\n{''.join(self.seen)}")
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def rest(self, timeout: float = 60) -> str:
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[str], _Lines]:
    process = subprocess.Popen(
        [*BERRYS, "run", DESCRIPTION, "--approve", "auto"],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, _Lines(process)


def test_ctrl_c_pauses_the_run_and_prints_the_resume_command(tmp_path: Path) -> None:
    env = _env(tmp_path)
    process, lines = _start(env)
    run_id = lines.wait_for(r"run\s+started\s+([0-9a-f-]{36})").group(1)
    process.send_signal(signal.SIGINT)
    lines.wait_for(r"berrys run --resume " + run_id)
    assert process.wait(timeout=60) == 130
    output = lines.rest()
    assert f"Paused run {run_id}" in output
    assert "Traceback" not in output
    shown = run_berrys("runs", "show", run_id, "--json", env=env)
    assert '"paused": true' in shown.stdout or '"status": "COMPLETED' in shown.stdout
    resumed = run_berrys("run", "--resume", run_id, "--approve", "auto", "--json", env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert '"paused": false' in resumed.stdout


def test_a_second_ctrl_c_leaves_at_once(tmp_path: Path) -> None:
    process, lines = _start(_env(tmp_path))
    lines.wait_for(r"run\s+started")
    process.send_signal(signal.SIGINT)
    lines.wait_for(r"Pausing")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert "Traceback" not in lines.rest()


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_berrys("serve", "--port", str(port), env=_env(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "listening" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(port) in result.stderr
    assert "in use" in result.stderr


def test_a_resumed_run_prints_the_first_runs_summary(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first = run_berrys("run", DESCRIPTION, "--approve", "auto", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    run_id = re.search(r"run\s+started\s+([0-9a-f-]{36})", first.stdout).group(1)
    again = run_berrys("run", "--resume", run_id, "--approve", "auto", env=env)
    assert again.returncode == 0, again.stdout + again.stderr

    def summary(text: str) -> str:
        return text[text.index("Understood as:") :]

    assert "Critical path:" in summary(first.stdout)
    assert summary(again.stdout) == summary(first.stdout)
    # 80 columns: every table line fits (prose lines are wrapped by the terminal).
    assert all(len(line) <= 80 for line in summary(first.stdout).splitlines() if "│" in line)
    assert "llm.complete" not in first.stdout + first.stderr  # logs go to the log file
    assert (tmp_path / "data" / "berrys.log").exists()  # at BERRYS_LOG_LEVEL (WARNING here)
