"""Loading the catalogue: the YAML files shipped in the package, then the user's own in
``<data dir>/catalogue/{types,deliverables}/`` (same key: the user's replaces the shipped one).

Every file is validated by the contracts at load time; a broken file is a ``CatalogueError``
naming the file and the field, never a half-loaded catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from berrys.services.catalogue.contracts import DeliverableType, ProjectType

SHIPPED = Path(__file__).parent / "data"
Model = TypeVar("Model", bound=BaseModel)


class CatalogueError(ValueError):
    """A catalogue file that cannot be used: which file, which field, what is wrong."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True)
class Catalogue:
    types: dict[str, ProjectType]
    deliverables: dict[str, DeliverableType]
    files: dict[str, Path] = field(default_factory=dict)

    def type(self, key: str) -> ProjectType:
        return self.types[key]

    def deliverable(self, key: str) -> DeliverableType:
        return self.deliverables[key]


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(file)"
        problems.append(f"{where}: {item['msg']}")
    return problems


def read(path: Path, model: type[Model]) -> Model:
    """One catalogue file, validated; ``CatalogueError`` names the file and field."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(path, [f"not readable YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise CatalogueError(path, ["(file): expected a mapping of fields"])
    try:
        item = model.model_validate(data)
    except ValidationError as exc:
        raise CatalogueError(path, _problems(exc)) from None
    key = getattr(item, "key", path.stem)  # a file of a keyed model is named by its key
    if key != path.stem:
        raise CatalogueError(path, [f"key: {key!r} must match the file name {path.stem!r}"])
    return item


def _folder(folder: Path, model: type[Model], files: dict[str, Path]) -> dict[str, Model]:
    items: dict[str, Model] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.yaml")):
            item = read(path, model)
            items[path.stem] = item
            files[f"{folder.name}/{path.stem}"] = path
    return items


def build(roots: list[Path]) -> Catalogue:
    """The catalogue from ``roots`` in order (a later root's key replaces an earlier one's)."""
    types: dict[str, ProjectType] = {}
    deliverables: dict[str, DeliverableType] = {}
    files: dict[str, Path] = {}
    for root in roots:
        types |= _folder(root / "types", ProjectType, files)
        deliverables |= _folder(root / "deliverables", DeliverableType, files)
    for project_type in types.values():
        missing = sorted(
            {t.deliverable for t in project_type.tasks if t.deliverable not in deliverables}
        )
        if missing:
            path = files[f"types/{project_type.key}"]
            raise CatalogueError(path, [f"phases: unknown deliverable(s) {', '.join(missing)}"])
    return Catalogue(types=types, deliverables=deliverables, files=files)


@lru_cache(maxsize=8)
def _cached(roots: tuple[Path, ...], stamp: tuple[float, ...]) -> Catalogue:
    return build(list(roots))


def _stamp(roots: tuple[Path, ...]) -> tuple[float, ...]:
    """Modification times of the user's folders: an edit there is seen without a restart."""
    stamps: list[float] = []
    for root in roots[1:]:
        for folder in (root / "types", root / "deliverables"):
            if folder.is_dir():
                stamps.append(folder.stat().st_mtime)
                stamps.extend(p.stat().st_mtime for p in folder.glob("*.yaml"))
    return tuple(stamps)


def load(user_dir: Path | None = None) -> Catalogue:
    """The shipped catalogue with the user's additions from ``user_dir`` (cached)."""
    roots = (SHIPPED,) if user_dir is None else (SHIPPED, user_dir)
    return _cached(roots, _stamp(roots))
