"""A runnable code scaffold: a small Flask (or FastAPI) app with JSON routes for the entities
the project names, an in-memory store, and generated pytest tests that pass as written.

Each record starts with an id and a name only: the other fields are for a person to decide
(a TODO), never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berrys.services.catalogue.contracts import DeliverableType, ProjectFacts

REQUIRED_FILES = (
    "README.md",
    "requirements.txt",
    "app.py",
    "models.py",
    "conftest.py",
    "tests/test_app.py",
)


@dataclass(frozen=True)
class Entity:
    label: str  # "book loan"
    cls: str  # "BookLoan"
    plural: str  # "book_loans"

    @property
    def route(self) -> str:
        return "/api/" + self.plural.replace("_", "-")


def singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def _article(label: str) -> str:
    return "an" if label[:1] in "aeiou" else "a"


def entity(name: str) -> Entity | None:
    words = re.findall(r"[a-z][a-z0-9]*", name.lower())
    if not words:
        return None
    words[-1] = singular(words[-1])
    label = " ".join(words)
    cls = "".join(w.capitalize() for w in words)
    plural = "_".join([*words[:-1], _plural(words[-1])])
    return Entity(label=label, cls=cls, plural=plural)


def entities_of(facts: ProjectFacts) -> tuple[list[Entity], bool]:
    """The project's entities (unique), or one placeholder ``item`` (True: a placeholder)."""
    found: dict[str, Entity] = {}
    for name in facts.entities:
        item = entity(name)
        if item is not None and item.cls not in found and item.cls not in {"App", "Store"}:
            found[item.cls] = item
    if found:
        return list(found.values())[:12], False
    return [Entity(label="item", cls="Item", plural="items")], True


# Stacks a description may name that the offline scaffold does not generate; a name that is
# also an English word ("a swift reply", "rails") counts only capitalised
_OTHER_STACKS = (
    ("Django", r"(?i:django)"),
    ("Ruby on Rails", r"Rails|(?i:ruby on rails)"),
    ("Laravel", r"(?i:laravel)"),
    ("Express", r"(?i:express(?:\.js|js))"),
    ("Next.js", r"(?i:next\.?js)"),
    ("Node.js", r"(?i:node(?:\.js|js))|Node"),
    ("Spring", r"(?i:spring boot)"),
    (".NET", r"(?i:asp\.net|\.net|c#)"),
    ("PHP", r"(?i:php)"),
    ("Go", r"(?i:golang)"),
    ("React Native", r"(?i:react native)"),
    ("Flutter", r"(?i:flutter)"),
    ("Swift", r"SwiftUI|Swift"),
    ("Kotlin", r"(?i:kotlin)"),
)


def other_stack(description: str) -> str | None:
    """The stack the description names when it is not the scaffold's own (Flask, FastAPI)."""
    for name, pattern in _OTHER_STACKS:
        if re.search(rf"(?<![\w.])(?:{pattern})(?![\w#])", description):
            return name
    return None


def framework_of(deliverable: DeliverableType, facts: ProjectFacts) -> str:
    text = " ".join(
        [deliverable.key, deliverable.title, deliverable.summary, facts.description]
    ).lower()
    return "fastapi" if "fastapi" in text else "flask"


def _comment(provenance: str) -> str:
    return f"# {provenance}\n"


def requirements_txt(provenance: str, framework: str) -> str:
    lines = ["flask>=3.0"] if framework == "flask" else ["fastapi>=0.110", "httpx>=0.27"]
    return _comment(provenance) + "\n".join([*lines, "pytest>=8.0"]) + "\n"


def models_py(provenance: str, entities: list[Entity]) -> str:
    names = ", ".join(e.cls for e in entities)
    parts = [
        _comment(provenance),
        f'"""The records the app keeps: {names}.\n\n'
        "Every record has an id and a name; its other fields are for a person to decide.\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        "from dataclasses import asdict, dataclass\n"
        "from typing import Any\n",
    ]
    for item in entities:
        parts.append(
            f"\n\n@dataclass\nclass {item.cls}:\n"
            f'    """{_article(item.label).capitalize()} {item.label}."""\n\n'
            "    id: int\n"
            "    name: str\n"
            f"    # TODO(developer): the other fields {_article(item.label)} {item.label} keeps\n\n"
            "    def to_dict(self) -> dict[str, Any]:\n"
            "        return asdict(self)\n"
        )
    parts.append(
        "\n\nclass Store:\n"
        '    """Records of one kind by id, in memory (TODO(developer): a database before real '
        'use)."""\n\n'
        "    def __init__(self, kind: type) -> None:\n"
        "        self.kind = kind\n"
        "        self._items: dict[int, Any] = {}\n"
        "        self._next = 1\n\n"
        "    def all(self) -> list[Any]:\n"
        "        return list(self._items.values())\n\n"
        "    def get(self, item_id: int) -> Any | None:\n"
        "        return self._items.get(item_id)\n\n"
        "    def add(self, name: str) -> Any:\n"
        "        item = self.kind(id=self._next, name=name)\n"
        "        self._items[item.id] = item\n"
        "        self._next += 1\n"
        "        return item\n\n"
        "    def rename(self, item_id: int, name: str) -> Any | None:\n"
        "        item = self._items.get(item_id)\n"
        "        if item is not None:\n"
        "            item.name = name\n"
        "        return item\n\n"
        "    def remove(self, item_id: int) -> bool:\n"
        "        return self._items.pop(item_id, None) is not None\n"
    )
    return "".join(parts)


def _stores(entities: list[Entity]) -> str:
    return "STORES = {\n" + "".join(f'    "{e.route}": {e.cls},\n' for e in entities) + "}\n"


def flask_app_py(provenance: str, title: str, entities: list[Entity]) -> str:
    imports = ", ".join([*(e.cls for e in entities), "Store"])
    return (
        _comment(provenance)
        + f'"""{title}: JSON routes for each record kind. Run: flask --app app run"""\n\n'
        "from __future__ import annotations\n\n"
        "from typing import Any\n\n"
        "from flask import Flask, jsonify, request\n\n"
        f"from models import {imports}\n\n" + _stores(entities) + "\n\n"
        "def _name(body: Any) -> str | None:\n"
        '    name = body.get("name") if isinstance(body, dict) else None\n'
        "    return name.strip() if isinstance(name, str) and name.strip() else None\n\n\n"
        "def _routes(app: Flask, route: str, store: Store) -> None:\n"
        '    endpoint = route.strip("/").replace("/", "_").replace("-", "_")\n\n'
        "    def list_items() -> Any:\n"
        "        return jsonify([item.to_dict() for item in store.all()])\n\n"
        "    def create_item() -> Any:\n"
        "        name = _name(request.get_json(silent=True))\n"
        "        if name is None:\n"
        '            return jsonify({"error": "name is required"}), 400\n'
        "        return jsonify(store.add(name).to_dict()), 201\n\n"
        "    def read_item(item_id: int) -> Any:\n"
        "        item = store.get(item_id)\n"
        "        if item is None:\n"
        '            return jsonify({"error": "not found"}), 404\n'
        "        return jsonify(item.to_dict())\n\n"
        "    def update_item(item_id: int) -> Any:\n"
        "        name = _name(request.get_json(silent=True))\n"
        "        if name is None:\n"
        '            return jsonify({"error": "name is required"}), 400\n'
        "        item = store.rename(item_id, name)\n"
        "        if item is None:\n"
        '            return jsonify({"error": "not found"}), 404\n'
        "        return jsonify(item.to_dict())\n\n"
        "    def delete_item(item_id: int) -> Any:\n"
        "        if not store.remove(item_id):\n"
        '            return jsonify({"error": "not found"}), 404\n'
        '        return "", 204\n\n'
        '    app.add_url_rule(route, f"{endpoint}_list", list_items, methods=["GET"])\n'
        '    app.add_url_rule(route, f"{endpoint}_create", create_item, methods=["POST"])\n'
        '    one = route + "/<int:item_id>"\n'
        '    app.add_url_rule(one, f"{endpoint}_read", read_item, methods=["GET"])\n'
        '    app.add_url_rule(one, f"{endpoint}_update", update_item, methods=["PUT"])\n'
        '    app.add_url_rule(one, f"{endpoint}_delete", delete_item, methods=["DELETE"])\n\n\n'
        "def create_app() -> Flask:\n"
        "    app = Flask(__name__)\n\n"
        '    @app.get("/health")\n'
        "    def health() -> Any:\n"
        '        return {"status": "ok"}\n\n'
        "    for route, kind in STORES.items():\n"
        "        _routes(app, route, Store(kind))\n"
        "    return app\n"
    )


def fastapi_app_py(provenance: str, title: str, entities: list[Entity]) -> str:
    imports = ", ".join([*(e.cls for e in entities), "Store"])
    return (
        _comment(provenance)
        + f'"""{title}: JSON routes for each record kind. Run: uvicorn app:app --reload"""\n\n'
        "from __future__ import annotations\n\n"
        "from typing import Any\n\n"
        "from fastapi import APIRouter, FastAPI, HTTPException, Response\n"
        "from pydantic import BaseModel, Field\n\n"
        f"from models import {imports}\n\n" + _stores(entities) + "\n\n"
        "class NameIn(BaseModel):\n"
        "    name: str = Field(min_length=1)\n\n\n"
        "def _router(route: str, store: Store) -> APIRouter:\n"
        "    router = APIRouter(prefix=route)\n\n"
        '    @router.get("")\n'
        "    def list_items() -> list[dict[str, Any]]:\n"
        "        return [item.to_dict() for item in store.all()]\n\n"
        '    @router.post("", status_code=201)\n'
        "    def create_item(body: NameIn) -> dict[str, Any]:\n"
        "        return store.add(body.name.strip()).to_dict()\n\n"
        '    @router.get("/{item_id}")\n'
        "    def read_item(item_id: int) -> dict[str, Any]:\n"
        "        item = store.get(item_id)\n"
        "        if item is None:\n"
        '            raise HTTPException(404, "not found")\n'
        "        return item.to_dict()\n\n"
        '    @router.put("/{item_id}")\n'
        "    def update_item(item_id: int, body: NameIn) -> dict[str, Any]:\n"
        "        item = store.rename(item_id, body.name.strip())\n"
        "        if item is None:\n"
        '            raise HTTPException(404, "not found")\n'
        "        return item.to_dict()\n\n"
        '    @router.delete("/{item_id}", status_code=204)\n'
        "    def delete_item(item_id: int) -> Response:\n"
        "        if not store.remove(item_id):\n"
        '            raise HTTPException(404, "not found")\n'
        "        return Response(status_code=204)\n\n"
        "    return router\n\n\n"
        "def create_app() -> FastAPI:\n"
        f'    app = FastAPI(title="{title}")\n\n'
        '    @app.get("/health")\n'
        "    def health() -> dict[str, str]:\n"
        '        return {"status": "ok"}\n\n'
        "    for route, kind in STORES.items():\n"
        "        app.include_router(_router(route, Store(kind)))\n"
        "    return app\n\n\n"
        "app = create_app()\n"
    )


def tests_py(provenance: str, entities: list[Entity], framework: str) -> str:
    routes = "".join(f'    "{e.route}",\n' for e in entities)
    if framework == "flask":
        client = (
            "@pytest.fixture\n"
            "def client():\n"
            "    app = create_app()\n"
            "    app.testing = True\n"
            "    return app.test_client()\n"
        )
        body = "response.get_json()"
    else:
        client = (
            "@pytest.fixture\n"
            "def client():\n"
            "    from fastapi.testclient import TestClient\n\n"
            "    return TestClient(create_app())\n"
        )
        body = "response.json()"
    return (
        _comment(provenance)
        + '"""Generated tests: every record kind can be created, listed, read, renamed and '
        'deleted."""\n\n'
        "import pytest\n\n"
        "from app import create_app\n\n"
        f"ROUTES = [\n{routes}]\n\n\n" + client + "\n\n"
        "def test_health(client):\n"
        '    response = client.get("/health")\n'
        "    assert response.status_code == 200\n"
        f'    assert {body}["status"] == "ok"\n\n\n'
        '@pytest.mark.parametrize("route", ROUTES)\n'
        "def test_create_list_read_rename_delete(client, route):\n"
        '    response = client.post(route, json={"name": "first"})\n'
        "    assert response.status_code == 201\n"
        f"    created = {body}\n"
        '    assert created["name"] == "first"\n'
        "    item = f\"{route}/{created['id']}\"\n"
        "    response = client.get(route)\n"
        f'    assert [row["name"] for row in {body}] == ["first"]\n'
        "    response = client.get(item)\n"
        f'    assert {body}["id"] == created["id"]\n'
        '    response = client.put(item, json={"name": "renamed"})\n'
        f'    assert {body}["name"] == "renamed"\n'
        "    assert client.delete(item).status_code == 204\n"
        "    assert client.get(item).status_code == 404\n\n\n"
        '@pytest.mark.parametrize("route", ROUTES)\n'
        "def test_a_record_needs_a_name(client, route):\n"
        '    response = client.post(route, json={"name": ""})\n'
        "    assert response.status_code in (400, 422)\n"
        "    assert client.get(route).status_code == 200\n\n\n"
        '@pytest.mark.parametrize("route", ROUTES)\n'
        "def test_an_unknown_record_is_not_found(client, route):\n"
        '    assert client.get(f"{route}/999").status_code == 404\n'
        '    assert client.delete(f"{route}/999").status_code == 404\n'
    )


def conftest_py(provenance: str) -> str:
    return (
        _comment(provenance)
        + '"""Makes the app importable from the tests (pytest puts this folder on the path)."""\n'
    )


def run_section(framework: str) -> list[str]:
    serve = "flask --app app run" if framework == "flask" else "uvicorn app:app --reload"
    return [
        "```sh",
        "python -m venv .venv && . .venv/bin/activate",
        "pip install -r requirements.txt" + (" uvicorn" if framework == "fastapi" else ""),
        "pytest",
        serve,
        "```",
    ]


def records_section(entities: list[Entity], placeholder: bool) -> list[str]:
    names = ", ".join(f"`{e.cls}`" for e in entities)
    line = f"- In `models.py`: {names}, each with an id and a name, kept in memory by `Store`"
    if placeholder:
        line += " (a placeholder: the description names no records)"
    return [line]


def routes_section(entities: list[Entity]) -> list[str]:
    lines = ["| Record | Routes (in `app.py`) |", "|---|---|", "| - | `GET /health` |"]
    for item in entities:
        lines.append(
            f"| {item.cls} | `GET/POST {item.route}`, `GET/PUT/DELETE {item.route}/<id>` |"
        )
    return lines
