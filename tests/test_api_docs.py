"""docs/api.md is the reference of the REST API as the app publishes it, kept current."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "api_docs.py"


def _api_docs():
    spec = importlib.util.spec_from_file_location("api_docs", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_is_current(app):
    api_docs = _api_docs()
    current = api_docs.DOCS.read_text(encoding="utf-8") if api_docs.DOCS.exists() else ""
    assert api_docs.render(app.openapi()) == current, (
        "docs/api.md differs from the app's OpenAPI document: run "
        "`.venv/bin/python scripts/api_docs.py` and commit docs/api.md"
    )
