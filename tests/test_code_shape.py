"""The code reads in short steps: no function in src/berrys (migrations aside) is over 60
lines; a longer one is split into named steps that each do one thing."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "berrys"
MAX_LINES = 60


def long_functions(root: Path) -> list[str]:
    """Every function over MAX_LINES lines under ``root`` (its decorators aside), as
    ``path:line name (N lines)``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.relative_to(root).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    where = path.relative_to(root.parent.parent)
                    found.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_is_over_60_lines() -> None:
    offenders = long_functions(SOURCE)
    assert not offenders, "Split these into named steps:\n" + "\n".join(offenders)


def test_the_check_finds_a_long_function_and_skips_migrations(tmp_path: Path) -> None:
    root = tmp_path / "src" / "berrys"
    (root / "migrations").mkdir(parents=True)
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    (root / "short.py").write_text(f"def fits():\n{body[: body.rindex('    x')]}")
    (root / "long.py").write_text(f"async def sprawls():\n{body}")
    (root / "migrations" / "0001.py").write_text(f"def upgrade():\n{body}")
    assert long_functions(root) == [f"src/berrys/long.py:1 sprawls ({MAX_LINES + 1} lines)"]
