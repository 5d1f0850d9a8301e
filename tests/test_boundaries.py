"""Another service is reached only through its façade: `service` (with `__all__`) and `contracts`;
its own modules are private by name (`_name.py`).

import-linter (pyproject.toml) keeps the layers; what it cannot say is which modules of a
service are its public face, so this test walks the import graph. Service code and the
edges may import another service's `service` and `contracts` modules; the edges (a
service's `api.py` and `deps.py`, `web`, `cli`, `mcp_server`, `a2a_server`) also its access
dependencies.
`app.py` and `berrys.tables` (every table, for Alembic) put the pieces together and are not
bound by it.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import grimp
import pytest

import berrys

PACKAGE = Path(berrys.__file__).parent
SERVICES = "berrys.services"
PUBLIC = frozenset({"service", "contracts"})
EDGE_PUBLIC = PUBLIC | {"deps"}
EDGE_MODULES = frozenset({"api", "deps"})
EDGES = ("berrys.web", "berrys.cli", "berrys.mcp_server", "berrys.a2a_server")


def _place(module: str) -> tuple[str, str]:
    """(owner, first module under the owner): services by name, else the top package."""
    parts = module.split(".")
    if module.startswith(SERVICES + ".") and len(parts) > 2:
        return ".".join(parts[:3]), parts[3] if len(parts) > 3 else ""
    return ".".join(parts[:2]), ""


def _bound(importer: str) -> bool:
    return importer.startswith((SERVICES + ".", *EDGES))


def _at_the_edge(importer: str) -> bool:
    owner, first = _place(importer)
    return owner in EDGES or first in EDGE_MODULES


def _allowed(importer: str, imported: str) -> bool:
    owner, _ = _place(importer)
    target, first = _place(imported)
    if not target.startswith(SERVICES + ".") or target == owner:
        return True
    return first in (EDGE_PUBLIC if _at_the_edge(importer) else PUBLIC)


def _path(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    package = PACKAGE / relative / "__init__.py"
    return package if package.exists() else (PACKAGE / relative).with_suffix(".py")


NAMED_PARTS = frozenset({"__init__", "api", "contracts", "deps", "service", "tables"})
SUBPACKAGES = frozenset({"engine", "data"})  # the run engine (its own contract), shipped YAML


def test_a_services_own_modules_are_private_by_name() -> None:
    public = [
        f"{entry.parent.name}/{entry.name}"
        for entry in (PACKAGE / "services").glob("*/*")
        if entry.name != "__pycache__"
        and (entry.stem if entry.suffix == ".py" else entry.name) not in NAMED_PARTS | SUBPACKAGES
        and not entry.name.startswith("_")
    ]
    assert not public, f"Name these _module.py (reached only through service.py): {public}"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("berrys", cache_dir=None)


def test_services_are_reached_through_their_facades(graph: grimp.ImportGraph) -> None:
    offenders = []
    for importer in sorted(m for m in graph.modules if _bound(m)):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if _allowed(importer, imported):
                continue
            for detail in graph.get_import_details(importer=importer, imported=imported):
                where = _path(importer).relative_to(PACKAGE.parent)
                offenders.append(f"{where}:{detail['line_number']}: imports {imported}")
    assert not offenders, "Import the other service's `service` or `contracts`:\n" + "\n".join(
        offenders
    )


def _facades() -> list[str]:
    return sorted(
        f"{SERVICES}.{path.parent.name}.service"
        for path in (PACKAGE / "services").glob("*/service.py")
    )


@pytest.mark.parametrize("facade", _facades())
def test_each_facade_declares_what_it_offers(facade: str) -> None:
    module = importlib.import_module(facade)
    declared = getattr(module, "__all__", [])
    assert declared, f"{facade} has no __all__"
    assert [name for name in declared if not hasattr(module, name)] == []


def _bound_names(function: ast.AST) -> set[str]:
    """Names a function binds itself (parameters, assignments): they hide a module alias."""
    names = {arg.arg for arg in ast.walk(function) if isinstance(arg, ast.arg)}
    return names | {
        node.id
        for node in ast.walk(function)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }


class _FacadeReads(ast.NodeVisitor):
    """`alias.name` reads of façade modules, outside functions that rebind the alias."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases
        self.hidden: list[set[str]] = [set()]
        self.uses: list[tuple[int, str, str]] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.hidden.append(self.hidden[-1] | _bound_names(node))
        self.generic_visit(node)
        self.hidden.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Attribute(self, node: ast.Attribute) -> None:
        target = node.value
        if isinstance(target, ast.Name) and target.id in self.aliases.keys() - self.hidden[-1]:
            self.uses.append((node.lineno, self.aliases[target.id], node.attr))
        self.generic_visit(node)


def _uses_of_facades(path: Path) -> list[tuple[int, str, str]]:
    """(line, façade, name) for each name read from another service's `service` module."""
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(SERVICES):
            for alias in node.names:
                if node.module.endswith(".service"):
                    uses.append((node.lineno, node.module, alias.name))
                elif alias.name == "service":
                    aliases[alias.asname or alias.name] = f"{node.module}.service"
    reads = _FacadeReads(aliases)
    reads.visit(tree)
    return uses + reads.uses


def test_other_services_read_only_what_a_facade_declares() -> None:
    facades = {facade: importlib.import_module(facade) for facade in _facades()}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if "migrations" in path.parts or not _bound(module):
            continue
        owner, _ = _place(module)
        for line, facade, name in _uses_of_facades(path):
            offered = facades.get(facade)
            if _place(facade)[0] == owner or offered is None:
                continue
            if name not in getattr(offered, "__all__", ()):
                where = path.relative_to(PACKAGE.parent)
                offenders.append(f"{where}:{line}: {facade}.{name} is not in its __all__")
    assert not offenders, "\n".join(offenders)
