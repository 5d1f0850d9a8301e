"""No module of the application holds mutable state of its own: what a process shares lives
in its ``Services`` (``berrys.wiring``). A module-level container that its module changes,
an instance of one of the application's own mutable classes, a lock, or a ``global``
statement fails here, unless ``MEMOS`` names it with why it may stay (a cache of a pure
function of its key, mostly)."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import enum
import importlib
import threading
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import berrys

SOURCE = Path(berrys.__file__).parent
CONTAINERS = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
CONTAINER_CALLS = {
    "dict", "list", "set", "bytearray", "defaultdict", "deque", "OrderedDict", "Counter",
    "WeakSet", "WeakKeyDictionary", "WeakValueDictionary",
}  # fmt: skip
MUTATORS = {
    "append", "appendleft", "add", "update", "setdefault", "pop", "popitem", "popleft",
    "clear", "extend", "extendleft", "insert", "remove", "discard", "move_to_end", "sort",
}  # fmt: skip
LOCKS = (type(threading.Lock()), type(threading.RLock()), asyncio.Lock, asyncio.Event)

# Module-level state that may stay, and why: "module:name" -> reason.
MEMOS = {
    "berrys.services.catalogue._classify:_vectors": "the catalogue examples' unit vectors, "
    "by embedder, type and version: a pure function of its key",
    "berrys.services.catalogue._classify:_embedding": "one lock per event loop, so the first "
    "concurrent callers fill _vectors once instead of each embedding the examples",
    "berrys.services.chat._nearest:_indexes": "the intent exemplars' vectors by embedder "
    "name: a pure function of its key",
    "berrys.services.tools._registry:_validators": "compiled JSON Schema validators by tool "
    "id and version (updated_at): a pure function of its key",
    "berrys.services.llm._scoring:cache": "unit vectors by embedder name and text hash, "
    "least recently used dropped: a pure function of its key",
    "berrys.services.llm._embeddings:_e5_weights": "the e5 weights of each variant, read "
    "from the package's files once: a pure function of its key",
    "berrys.services.llm._embeddings:_E5_LOCK": "loads _e5_weights once, and keeps encoding "
    "one batch at a time",
    "berrys.services.tools._invocation:_definitions": "tool rows for at most "
    "tools_definition_cache_seconds; a registry write anywhere in the process empties it "
    "(its writers hold no ToolInvoker to reach one of their own)",
    "berrys.services.runs.engine.signals:_wakers": "the workers of this process to wake "
    "after a commit (weak references): a wake is a hint, so one reaching a worker of "
    "another application in the process only makes it look for work sooner",
}


def _modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, ast.parse(path.read_text(encoding="utf-8"))))
    return found


def _assigned(tree: ast.Module) -> dict[str, ast.expr]:
    """Names the module binds at its top level, with the value bound."""
    bound: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
            bound.update({target.id: node.value} if isinstance(target, ast.Name) else {})
    return bound


def _is_container(value: ast.expr) -> bool:
    if isinstance(value, CONTAINERS):
        return True
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name in CONTAINER_CALLS


def _run_time(tree: ast.Module) -> list[ast.AST]:
    """The nodes inside the module's functions: what runs after the import built it."""
    return [
        node
        for function in ast.walk(tree)
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for node in ast.walk(function)
    ]


def _changed(tree: ast.Module) -> set[str]:
    """Names whose value the module's functions change in place: ``name[k] = ``,
    ``del name[k]``, ``name.attr = ``, ``name += ``, ``name.append(...)`` and the like."""
    changed: set[str] = set()
    for node in _run_time(tree):
        if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(
            node.ctx, (ast.Store, ast.Del)
        ):
            if isinstance(node.value, ast.Name):
                changed.add(node.value.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            changed.add(node.target.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr in MUTATORS and isinstance(owner, ast.Name):
                changed.add(owner.id)
    return changed


def _immutable(value: Any) -> bool:
    if isinstance(value, (tuple, frozenset, enum.Enum, type)) or callable(value):
        return True
    if isinstance(value, Mapping) and not isinstance(value, MutableMapping):
        return True
    if dataclasses.is_dataclass(value):
        return bool(value.__dataclass_params__.frozen)  # type: ignore[attr-defined]
    return False


def _stateful_object(module: str, name: str, changed: set[str]) -> bool:
    """A lock, or an instance of one of the application's mutable classes: one with
    behaviour (it keeps state behind its methods), or a record its module changes."""
    value = getattr(importlib.import_module(module), name)
    if isinstance(value, LOCKS):
        return True
    if not type(value).__module__.startswith("berrys.") or _immutable(value):
        return False
    if dataclasses.is_dataclass(value) or isinstance(value, BaseModel):
        return name in changed
    return True


def _state_of(module: str, tree: ast.Module) -> list[str]:
    changed = _changed(tree)
    found = []
    for name, value in _assigned(tree).items():
        if name == "__all__":
            continue
        changed_container = _is_container(value) and name in changed
        if changed_container or (
            isinstance(value, ast.Call) and _stateful_object(module, name, changed)
        ):
            found.append(f"{module}:{name}")
    return found


def test_no_module_holds_state_of_its_own() -> None:
    found = {entry for module, tree in _modules() for entry in _state_of(module, tree)}
    unexplained = sorted(found - MEMOS.keys())
    assert not unexplained, (
        "Module-level state: keep it in Services (berrys.wiring) and pass it, or, for a "
        "cache of a pure function of its key, add it to MEMOS with why:\n" + "\n".join(unexplained)
    )
    assert not sorted(MEMOS.keys() - found), "MEMOS names state that is gone: remove it"


def test_no_global_statement() -> None:
    statements = [
        f"{module}:{node.lineno}"
        for module, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Global)
    ]
    assert not statements, "A global statement rebinds module state: " + ", ".join(statements)
