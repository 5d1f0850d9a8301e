"""Agent prompt templates: Jinja2 in a sandbox, checked when saved, rendered with known data."""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from berrys.core.errors import Unprocessable

_env = ImmutableSandboxedEnvironment(autoescape=False, trim_blocks=False)
MAX_RENDERED = 50_000


def check(template: str, *, field: str = "prompt_template") -> str:
    """Parse ``template``; a syntax error is Unprocessable naming the line."""
    try:
        _env.parse(template)
    except TemplateSyntaxError as exc:
        raise Unprocessable(
            f"{field} is not a valid Jinja2 template (line {exc.lineno}): {exc.message}"
        ) from None
    return template


def render(template: str, context: dict[str, Any]) -> str:
    """Render in the sandbox: no attribute tricks, no file access; failures are Unprocessable."""
    try:
        rendered = _env.from_string(template).render(**context)
    except TemplateError as exc:
        raise Unprocessable(f"The prompt template could not be rendered: {exc}") from None
    return rendered[:MAX_RENDERED]
