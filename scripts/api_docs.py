#!/usr/bin/env python3
"""Write docs/api.md, the REST reference, from the OpenAPI document the app publishes.

Per tag, each operation: method and path, summary, what it does, its parameters, its request
body's fields with their bounds, and its responses (errors are problem+json); then every
schema the operations name. Run it after changing a route or a contract;
``tests/test_api_docs.py`` fails while docs/api.md is out of date.

    .venv/bin/python scripts/api_docs.py          # rewrite docs/api.md
    .venv/bin/python scripts/api_docs.py --check  # exit 1 when docs/api.md is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api.md"
METHODS = ("get", "post", "put", "patch", "delete")
PROBLEM_JSON = "application/problem+json"
Schema = dict[str, Any]


def openapi_document() -> dict[str, Any]:
    """The document ``berrys serve`` publishes at /openapi.json, from a throwaway app."""
    from pydantic import SecretStr

    from berrys.app import create_app
    from berrys.config import Settings

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            secret_key=SecretStr("api-docs-only"),
            local_model_enabled=False,
            _env_file=None,  # type: ignore[call-arg]
        )
        return create_app(settings).openapi()


def render(document: dict[str, Any]) -> str:
    """The Markdown reference of ``document``."""
    schemas: dict[str, Schema] = document.get("components", {}).get("schemas", {})
    operations = list(_operations(document))
    common = _common_errors(operations)
    lines = _preamble(document, common)
    tags = sorted({tag for _, _, operation in operations for tag in _tags(operation)})
    lines += ["## Contents", ""]
    lines += [f"- [{tag}](#tag-{_slug(tag)})" for tag in tags]
    lines += ["- [Schemas](#schemas)", ""]
    for tag in tags:
        lines += [f'<a id="tag-{_slug(tag)}"></a>', "", f"## {tag}", ""]
        for method, path, operation in operations:
            if tag in _tags(operation):
                lines += _operation(method, path, operation, schemas, common)
    lines += ["## Schemas", ""]
    for name in _named_schemas(operations, schemas):
        lines += _schema_section(name, schemas[name])
    return "\n".join(lines).rstrip() + "\n"


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def _tags(operation: dict[str, Any]) -> list[str]:
    return list(operation.get("tags") or ["other"])


def _common_errors(operations: list[tuple[str, str, dict[str, Any]]]) -> dict[str, str]:
    """The description most operations give each error status: said once, at the top."""
    seen: Counter[tuple[str, str]] = Counter()
    for _, _, operation in operations:
        for status, response in operation.get("responses", {}).items():
            if PROBLEM_JSON in response.get("content", {}):
                seen[status, response.get("description", "")] += 1
    common: dict[str, str] = {}
    for (status, description), count in seen.most_common():
        if count > 1:  # one operation's own error is said where that operation is
            common.setdefault(status, description)
    return dict(sorted(common.items()))


def _preamble(document: dict[str, Any], common: dict[str, str]) -> list[str]:
    info = document.get("info", {})
    lines = [
        "# REST API reference",
        "",
        f"{info.get('title', 'Berrys')}: {info.get('summary', '')}".rstrip(": "),
        "",
        "Generated from the OpenAPI document the server publishes (`/openapi.json`; `/docs`",
        "renders it) by `scripts/api_docs.py`: do not edit by hand, run",
        "`.venv/bin/python scripts/api_docs.py` after changing a route or a contract",
        "(`tests/test_api_docs.py` fails until then).",
        "",
        "Operations marked *token* need `Authorization: Bearer <token>` (a login token from",
        "`POST /api/v1/auth/login`, or a personal API token). An enum value is matched",
        "ignoring case (lowercase is answered with a `Deprecation` header). Every error is",
        "`application/problem+json` ([Problem](#schema-problem)); unless an operation says",
        "otherwise, its errors mean:",
        "",
        "| status | meaning |",
        "|---|---|",
    ]
    lines += [f"| {status} | {_cell(text)} |" for status, text in common.items()]
    return [*lines, ""]


def _operation(
    method: str,
    path: str,
    operation: dict[str, Any],
    schemas: dict[str, Schema],
    common: dict[str, str],
) -> list[str]:
    token = " *token*" if operation.get("security") else ""
    lines = [f"### `{method} {path}`{token}", ""]
    if operation.get("summary"):
        lines += [f"**{operation['summary']}**", ""]
    if operation.get("description"):
        lines += [operation["description"].strip(), ""]
    lines += _parameters(operation.get("parameters", []))
    lines += _request_body(operation.get("requestBody"), schemas)
    lines += _responses(operation.get("responses", {}), common)
    return lines


def _parameters(parameters: list[dict[str, Any]]) -> list[str]:
    if not parameters:
        return []
    lines = [
        "| parameter | in | type | required | bounds | description |",
        "|---|---|---|---|---|---|",
    ]
    for parameter in parameters:
        schema = parameter.get("schema", {})
        description = parameter.get("description") or schema.get("description", "")
        lines.append(
            f"| `{parameter['name']}` | {parameter['in']} | {_type(schema)} | "
            f"{'yes' if parameter.get('required') else 'no'} | {_bounds(schema)} | "
            f"{_cell(description)} |"
        )
    return [*lines, ""]


def _request_body(body: dict[str, Any] | None, schemas: dict[str, Schema]) -> list[str]:
    if not body:
        return []
    lines: list[str] = []
    for media, content in body.get("content", {}).items():
        schema = content.get("schema", {})
        required = "required" if body.get("required") else "optional"
        lines += [f"Request body ({required}, `{media}`): {_type(schema)}", ""]
        resolved = _resolve(schema, schemas)
        if resolved.get("properties"):
            lines += _fields(resolved)
    return lines


def _fields(schema: Schema) -> list[str]:
    required = set(schema.get("required", []))
    lines = ["| field | type | required | bounds | description |", "|---|---|---|---|---|"]
    for name, field in schema.get("properties", {}).items():
        lines.append(
            f"| `{name}` | {_type(field)} | {'yes' if name in required else 'no'} | "
            f"{_bounds(field)} | {_cell(_description(field))} |"
        )
    return [*lines, ""]


def _responses(responses: dict[str, Any], common: dict[str, str]) -> list[str]:
    lines = ["| response | body | description |", "|---|---|---|"]
    usual: list[str] = []
    for status, response in responses.items():
        content = response.get("content", {})
        description = response.get("description", "")
        if PROBLEM_JSON in content and common.get(status) == description:
            usual.append(status)
            continue
        body = ", ".join(f"`{media}` {_type(c.get('schema', {}))}" for media, c in content.items())
        lines.append(f"| {status} | {body or '(none)'} | {_cell(description)} |")
    if usual:
        usual.sort(key=lambda status: (status == "default", status))
        lines.append(f"| {', '.join(usual)} | problem+json | as listed at the top |")
    return [*lines, ""]


def _named_schemas(
    operations: list[tuple[str, str, dict[str, Any]]], schemas: dict[str, Schema]
) -> list[str]:
    """Every component schema the operations name, directly or through another schema."""
    found: set[str] = set()
    pending = [ref for _, _, operation in operations for ref in _refs(operation)]
    while pending:
        name = pending.pop()
        if name not in found and name in schemas:
            found.add(name)
            pending += _refs(schemas[name])
    return sorted(found, key=str.lower)


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item.rsplit("/", 1)[-1]
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _schema_section(name: str, schema: Schema) -> list[str]:
    lines = [f'<a id="schema-{_slug(name)}"></a>', "", f"### {name}", ""]
    if schema.get("description"):
        lines += [schema["description"].strip(), ""]
    if "enum" in schema:
        lines += ["One of " + ", ".join(f"`{value}`" for value in schema["enum"]) + ".", ""]
    elif schema.get("properties"):
        lines += _fields(schema)
    else:
        lines += [f"{_type(schema)}.", ""]
    return lines


def _resolve(schema: Schema, schemas: dict[str, Schema]) -> Schema:
    if "$ref" in schema:
        return schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema


def _type(schema: Schema) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#schema-{_slug(name)})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_type(option) for option in schema[key] if option.get("type") != "null"]
            nullable = len(options) < len(schema[key])
            return " or ".join(options) + (" or null" if nullable else "")
    if len(schema.get("allOf", [])) == 1:
        return _type(schema["allOf"][0])
    if "const" in schema:
        return f"`{schema['const']}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type(schema['additionalProperties'])}"
    if kind == "string" and "format" in schema:
        return f"string ({schema['format']})"
    return str(kind or "any")


def _bounds(schema: Schema) -> str:
    """Limits a value must keep: lengths, ranges, item counts, patterns, and the default."""
    parts = [
        *_limits(schema),
        *(limit for option in schema.get("anyOf", []) for limit in _limits(option)),
    ]
    items = schema.get("items", {})
    parts += [f"each {limit}" for limit in _limits(items)]
    if "default" in schema and schema["default"] not in (None, [], {}):
        parts.append(f"default `{json.dumps(schema['default'])}`")
    return _cell("; ".join(parts))


def _limits(schema: Schema) -> Iterator[str]:
    for low, high, unit in (
        ("minLength", "maxLength", " characters"),
        ("minItems", "maxItems", " items"),
        ("minimum", "maximum", ""),
        ("minProperties", "maxProperties", " entries"),
    ):
        if low in schema or high in schema:
            yield _range(schema.get(low), schema.get(high), unit)
    if "exclusiveMinimum" in schema:
        yield f"> {schema['exclusiveMinimum']}"
    if "exclusiveMaximum" in schema:
        yield f"< {schema['exclusiveMaximum']}"
    if "pattern" in schema:
        yield f"pattern `{schema['pattern']}`"


def _range(low: Any, high: Any, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low}..{high}{unit}"
    return f"at least {low}{unit}" if low is not None else f"at most {high}{unit}"


def _description(schema: Schema) -> str:
    return str(schema.get("description") or "")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args(argv)
    text = render(openapi_document())
    if args.check:
        if DOCS.exists() and DOCS.read_text(encoding="utf-8") == text:
            return 0
        print(f"{DOCS} is out of date: run .venv/bin/python scripts/api_docs.py", file=sys.stderr)
        return 1
    DOCS.write_text(text, encoding="utf-8")
    print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
