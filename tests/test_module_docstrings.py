"""Every module says what it is for, in at most ten lines of docstring."""

import ast
from pathlib import Path

import berrys

SOURCE = Path(berrys.__file__).parent
MAX_LINES = 10


def _modules() -> list[Path]:
    return sorted(
        p for p in SOURCE.rglob("*.py") if "migrations" not in p.relative_to(SOURCE).parts
    )


def _problem(path: Path) -> str | None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=True)
    if not docstring:
        return "no module docstring"
    lines = len(docstring.strip().splitlines())
    return f"{lines} lines of docstring" if lines > MAX_LINES else None


def test_every_module_has_a_short_docstring():
    problems = [
        f"{path.relative_to(SOURCE.parent)}: {problem}"
        for path in _modules()
        if (problem := _problem(path)) is not None
    ]
    assert not problems, (
        f"Each module opens with a docstring of at most {MAX_LINES} lines saying what it is "
        "for (longer explanations belong in docs/architecture.md or next to the code):\n"
        + "\n".join(problems)
    )
