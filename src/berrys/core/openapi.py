"""The OpenAPI document tells the truth about errors: every one is problem+json.

FastAPI documents only the success responses and a 422 shaped like its own validation error.
:func:`document_problems` rewrites the generated document once: each error response of each
operation is ``application/problem+json`` (the ``Problem`` schema); every operation under
``/api/`` lists 404, 409 and 422, those that need a token 401 and 403 too, and every
operation has a ``default`` response for the rest (402, 413, 429, 500, 503, 504).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from berrys.core.errors import PROBLEM_JSON

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error as RFC 9457 problem details; some carry more members.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string", "description": "What kind of problem, in words."},
        "status": {"type": "integer", "description": "The HTTP status."},
        "detail": {"type": "string", "description": "What went wrong this time, and why."},
        "instance": {"type": "string", "description": "The request path."},
        "errors": {
            "type": "array",
            "description": "422 only: each field at fault, by location.",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                    "allowed": {"description": "The values an enum field accepts."},
                },
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
}

_SECURED = {
    "401": "Missing, invalid, expired or revoked bearer token.",
    "403": "The caller's role or a policy does not allow this.",
}
_API = {
    "404": "Not found: an unknown id, or someone else's project or anything in it.",
    "409": "Conflict: a duplicate, an illegal state transition, or approval needed first.",
    "422": "Request validation failed: each field at fault is named in `errors`.",
}
_DEFAULT = (
    "Any other error, as problem+json: 402 budget exceeded, 413 body too large, 429 too many "
    "requests (with Retry-After), 500 unexpected (quote the X-Request-ID), 503 a dependency "
    "is unavailable, 504 a tool or model did not answer in time."
)
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
# FastAPI's own validation error schemas, replaced by Problem.
_REPLACED = ("HTTPValidationError", "ValidationError")


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}


def _document(schema: dict[str, Any]) -> None:
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            expected = dict(_API) if path.startswith("/api/") else {}
            if operation.get("security"):
                expected |= _SECURED
            for status, description in expected.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if not status.isdigit() or int(status) < 400:
                    continue
                # A route's own description stays (FastAPI's 422 one describes its format).
                description = response.get("description")
                if status == "422" or not description:
                    description = expected.get(status, "Error.")
                responses[status] = _problem(description)
            responses["default"] = _problem(_DEFAULT)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _REPLACED:
        components.pop(name, None)
    components["Problem"] = PROBLEM_SCHEMA


def document_problems(app: FastAPI) -> None:
    """Make ``app.openapi()`` document every error response as problem+json."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:
            schema = generate()  # FastAPI keeps it as app.openapi_schema
            _document(schema)
        return schema

    # Replacing the method is FastAPI's documented way to extend the schema.
    app.openapi = openapi  # type: ignore[method-assign]
