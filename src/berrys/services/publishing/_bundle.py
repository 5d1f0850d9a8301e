"""The BUNDLE target: a zip of the deliverables (``files/``), their manifest and a static
``index.html`` that lists and renders each one. Markdown is rendered by markdown-it-py with
raw HTML off (escaped, never passed through) and its link validation on; other text is shown
escaped; anything else is linked. The zip is written beside the data, then renamed into
place, so a bundle is either whole or absent."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from berrys.services.publishing.contracts import PublishedFile

MARKDOWN_TYPES = ("text/markdown", "text/x-markdown")
MAX_RENDERED = 400_000  # characters of a deliverable shown on the page; the rest is in files/

_INDEX = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ project }}: deliverables</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
  line-height: 1.5; color: #1f2328; }
nav ol { padding-left: 1.2rem; } .muted { color: #59636e; font-size: .9rem; }
article { border-top: 1px solid #d1d9e0; margin-top: 2rem; padding-top: 1rem; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; white-space: pre-wrap; }
table { border-collapse: collapse; } td, th { border: 1px solid #d1d9e0; padding: .2rem .5rem; }
</style>
</head>
<body>
<header>
<h1>{{ project }}</h1>
<p class="muted">{{ files|length }} deliverables of run {{ run_id }}, published {{ published }}
by Berrys; approved by {{ approver }}.</p>
</header>
<nav><h2>Contents</h2><ol>
{% for item in files %}<li><a href="#f{{ loop.index }}">{{ item.name }}</a>
<span class="muted">({{ item.task_name }};
<a href="files/{{ item.file_name }}">{{ item.file_name }}</a>, {{ item.size }} bytes)</span></li>
{% endfor %}</ol></nav>
{% for item in files %}<article id="f{{ loop.index }}">
<h2>{{ item.name }}</h2>
<p class="muted">{{ item.task_name }} · {{ item.media_type }} ·
<a href="files/{{ item.file_name }}">{{ item.file_name }}</a> · sha256 {{ item.sha256 }}</p>
{% if item.html is not none %}{{ item.html }}
{% elif item.text is not none %}<pre>{{ item.text }}</pre>
{% else %}<p>Not text: open <a href="files/{{ item.file_name }}">{{ item.file_name }}</a>.</p>
{% endif %}
</article>
{% endfor %}
</body>
</html>
"""


def is_text(media_type: str) -> bool:
    media = media_type.lower()
    return media.startswith("text/") or media.endswith(("json", "xml", "yaml", "toml"))


def _view(item: PublishedFile, body: bytes) -> dict[str, Any]:
    view: dict[str, Any] = {**item.model_dump(), "html": None, "text": None}
    if not is_text(item.media_type):
        return view
    text = body.decode("utf-8", errors="replace")[:MAX_RENDERED]
    if item.media_type.lower().split(";")[0] in MARKDOWN_TYPES:
        renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        view["html"] = Markup(renderer.enable("table").enable("strikethrough").render(text))
    else:
        view["text"] = text
    return view


def index_html(
    *,
    project: str,
    run_id: str,
    approver: str,
    published: datetime,
    files: list[tuple[PublishedFile, bytes]],
) -> str:
    """The bundle's ``index.html``: every deliverable listed, then shown."""
    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return environment.from_string(_INDEX).render(
        project=project,
        run_id=run_id,
        approver=approver,
        published=published.strftime("%Y-%m-%d %H:%M UTC"),
        files=[_view(item, body) for item, body in files],
    )


def write(
    destination: Path,
    *,
    index: str,
    manifest: dict[str, Any],
    files: list[tuple[PublishedFile, bytes]],
) -> tuple[int, str]:
    """Write the zip at ``destination`` (whole or not at all): its size and SHA-256. This
    writes the disk: run it in a thread."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.html", index)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        for item, body in files:
            archive.writestr(f"files/{item.file_name}", body)
    os.replace(partial, destination)
    content = destination.read_bytes()
    return len(content), hashlib.sha256(content).hexdigest()
