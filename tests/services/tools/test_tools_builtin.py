"""Built-in tools: the workspace sandbox (hostile paths), search, arithmetic (HTTP fetch is
in test_tools_fetch)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from berrys.config import Settings
from berrys.core.errors import Unprocessable
from berrys.services.tools import _builtin
from berrys.services.tools._builtin import evaluate


async def _invoke(client, actor, tool: str, arguments: dict, project: dict | None = None):  # type: ignore[no-untyped-def]
    body: dict = {"arguments": arguments}
    if project is not None:
        body["project_id"] = project["id"]
    return await client.post(f"/api/v1/tools/{tool}/invoke", json=body, headers=actor.headers)


async def test_write_read_list_search(client, member, builtins, project):
    write = builtins["workspace.write_file"]
    wrote = await _invoke(
        client, member, write, {"path": "docs/plan.md", "content": "Bake bread\nSell it"}, project
    )
    assert wrote.status_code == 200, wrote.text
    assert wrote.json()["output"] == {"path": "docs/plan.md", "size": 18}
    read = await _invoke(
        client, member, builtins["workspace.read_file"], {"path": "docs/plan.md"}, project
    )
    assert read.json()["output"]["content"] == "Bake bread\nSell it"
    listed = await _invoke(client, member, builtins["workspace.list_files"], {}, project)
    entries = listed.json()["output"]["entries"]
    assert [(e["name"], e["type"]) for e in entries] == [("docs", "directory")]
    found = await _invoke(client, member, builtins["workspace.search"], {"text": "sell"}, project)
    assert found.json()["output"]["hits"] == [
        {"path": "docs/plan.md", "line": 2, "snippet": "Sell it"}
    ]
    missing = await _invoke(
        client, member, builtins["workspace.read_file"], {"path": "nope.txt"}, project
    )
    assert missing.status_code == 200
    assert missing.json()["is_error"] is True
    assert "no such file" in missing.json()["error"]


async def test_workspace_needs_a_visible_project(client, member, other_member, builtins, project):
    read = builtins["workspace.read_file"]
    without = await _invoke(client, member, read, {"path": "a.txt"})
    assert without.status_code == 422
    assert "project_id" in without.json()["detail"]
    theirs = await _invoke(client, other_member, read, {"path": "a.txt"}, project)
    assert theirs.status_code == 404


HOSTILE = [
    "../secret.txt",
    "../../etc/passwd",
    "docs/../../escape.txt",
    "/etc/passwd",
    "//etc/passwd",
    "~/notes.txt",
    "..",
    "docs/..",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    "..%2fsecret.txt",
    "%252e%252e/secret.txt",
    "..\\secret.txt",
    "docs\\..\\..\\secret.txt",
    "\uff0e\uff0e/secret.txt",  # fullwidth dots
    "docs/\u2025/secret.txt",  # two-dot leader
    "a\x00.txt",
    "line\nbreak.txt",
    "",
    "linked/secret.txt",  # a symlinked directory inside the workspace
    "link-to-secret.txt",  # a symlinked file inside the workspace
    "hardlink.txt",  # a hard link to a file outside
]


@pytest.fixture
def hostile_workspace(settings: Settings, project: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = settings.workspace_dir(uuid.UUID(project["id"]))
    root.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET")
    os.symlink(outside, root / "linked")
    os.symlink(outside / "secret.txt", root / "link-to-secret.txt")
    os.link(outside / "secret.txt", root / "hardlink.txt")


@pytest.mark.parametrize("path", HOSTILE)
async def test_hostile_paths_are_refused(
    client, member, builtins, project, hostile_workspace, path
):
    for tool, arguments in (
        ("workspace.read_file", {"path": path}),
        ("workspace.write_file", {"path": path, "content": "pwned"}),
    ):
        answer = await _invoke(client, member, builtins[tool], arguments, project)
        assert answer.status_code in (403, 422), (tool, path, answer.text)
        assert "TOP SECRET" not in answer.text
    if path:
        listed = await _invoke(
            client, member, builtins["workspace.list_files"], {"path": path}, project
        )
        assert listed.status_code in (403, 422), (path, listed.text)


async def test_hostile_paths_left_the_outside_untouched(
    client, member, builtins, project, hostile_workspace, tmp_path
):
    for path in HOSTILE:
        await _invoke(
            client,
            member,
            builtins["workspace.write_file"],
            {"path": path, "content": "x"},
            project,
        )
    assert (tmp_path / "outside" / "secret.txt").read_text() == "TOP SECRET"
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["secret.txt"]
    assert not (tmp_path / "escape.txt").exists()
    refused = await client.get("/api/v1/tools/executions", headers=member.headers)
    outcomes = {item["outcome"] for item in refused.json()["items"]}
    assert outcomes <= {"DENIED", "INVALID"}


async def test_search_skips_links(client, member, builtins, project, hostile_workspace):
    found = await _invoke(client, member, builtins["workspace.search"], {"text": "secret"}, project)
    assert found.status_code == 200
    assert "TOP SECRET" not in found.text


def test_split_path_accepts_plain_paths():
    assert _builtin.split_path("a/b/./c.txt") == ["a", "b", "c.txt"]
    assert _builtin.split_path("", allow_root=True) == []


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(2 + 3) * sqrt(16)", 20.0),
        ("2 ** 10", 1024),
        ("-7 // 2", -4),
        ("max(1, 5, 3) - abs(-2)", 3),
        ("round(pi, 2)", 3.14),
    ],
)
def test_arithmetic(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "().__class__.__bases__",
        "open('/etc/passwd')",
        "x",
        "lambda: 1",
        "[1, 2]",
        "'a' * 3",
        "9 ** 9 ** 9",
        "10 ** 10000",
        "1 / 0",
        "sqrt(-1)",
        "1 +",
        "True + 1",
        "(" * 300 + "1" + ")" * 300,
    ],
)
def test_arithmetic_refuses(expression):
    with pytest.raises(Unprocessable):
        evaluate(expression)


async def test_math_over_rest_and_bad_expression_is_an_error_result(client, member, builtins):
    ok = await _invoke(client, member, builtins["math.evaluate"], {"expression": "6 * 7"})
    assert ok.json()["output"] == {"expression": "6 * 7", "value": 42}
    bad = await _invoke(client, member, builtins["math.evaluate"], {"expression": "1/0"})
    assert bad.json()["is_error"] is True
    assert bad.json()["error"] == "division by zero"


@pytest.fixture
def fifo_workspace(settings: Settings, project: dict) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A workspace holding a FIFO, and a watchdog that unblocks a reader stuck opening it.

    Opening a FIFO for reading blocks until a writer comes; if a tool did that on the event
    loop the whole test would hang. The watchdog opens the write end after 5 s (only if a
    reader is waiting: ``O_NONBLOCK`` fails with ENXIO otherwise) and records that it had to.
    """
    root = settings.workspace_dir(uuid.UUID(project["id"]))
    (root / "d").mkdir(parents=True)
    fifo = root / "d" / "pipe"
    os.mkfifo(fifo)
    rescued: list[bool] = []

    def unblock() -> None:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            rescued.append(True)
        except OSError:
            pass

    watchdog = threading.Timer(5.0, unblock)
    watchdog.start()
    yield fifo
    watchdog.cancel()
    watchdog.join()
    assert not rescued, "a tool blocked on opening the FIFO"


async def test_a_fifo_in_the_workspace_is_refused_without_blocking(
    client, member, builtins, project, fifo_workspace
):
    for tool, arguments in (
        ("workspace.read_file", {"path": "d/pipe"}),
        ("workspace.write_file", {"path": "d/pipe", "content": "x"}),
    ):
        answer = await _invoke(client, member, builtins[tool], arguments, project)
        assert answer.status_code == 403, (tool, answer.text)
        assert "not a regular file" in answer.json()["detail"]
    listed = await _invoke(client, member, builtins["workspace.list_files"], {"path": "d"}, project)
    assert listed.json()["output"]["entries"] == [{"name": "pipe", "type": "other", "size": 0}]
    found = await _invoke(client, member, builtins["workspace.search"], {"text": "x"}, project)
    assert found.json()["output"]["hits"] == []


async def test_a_directory_is_not_read_as_a_file(client, member, builtins, project):
    write = builtins["workspace.write_file"]
    await _invoke(client, member, write, {"path": "d/x.txt", "content": "x"}, project)
    answer = await _invoke(client, member, builtins["workspace.read_file"], {"path": "d"}, project)
    assert answer.status_code == 403, answer.text
    assert "not a regular file" in answer.json()["detail"]


async def test_workspace_io_runs_off_the_loop_so_the_timeout_fires(
    client, member, builtins, project, monkeypatch
):
    release = threading.Event()

    def stuck_read(*args, **kwargs) -> bytes:  # type: ignore[no-untyped-def]
        release.wait(10)  # a disk that does not answer
        return b"late"

    monkeypatch.setattr(_builtin, "read_file", stuck_read)
    try:
        answer = await client.post(
            f"/api/v1/tools/{builtins['workspace.read_file']}/invoke",
            json={
                "arguments": {"path": "a.txt"},
                "project_id": project["id"],
                "timeout_seconds": 0.2,
            },
            headers=member.headers,
        )
    finally:
        release.set()
    assert answer.status_code == 504, answer.text
    assert "did not finish within 0.2s" in answer.json()["detail"]


@pytest.mark.parametrize("expression", ["1e309", "1e308 * 10", "-1e309", "1e309 - 1e309"])
def test_arithmetic_refuses_non_finite_results(expression):
    with pytest.raises(Unprocessable, match="finite"):
        evaluate(expression)


async def test_an_overflowing_expression_is_a_tool_error(client, member, builtins):
    answer = await _invoke(client, member, builtins["math.evaluate"], {"expression": "1e309"})
    assert answer.json()["is_error"] is True
    assert answer.json()["output"] is None
    assert "finite" in answer.json()["error"]
