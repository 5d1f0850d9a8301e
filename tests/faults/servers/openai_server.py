"""A tiny OpenAI-compatible model server (``/v1/models``, ``/v1/chat/completions``) in a
process of its own, so that a test can kill it mid-call and start it again on the same port.

``python openai_server.py PORT LOG HELD``: every chat request appends its first line (the
task's title) to LOG; a request whose prompt contains ``[hold]`` writes HELD and is never
answered. It prints ``ready`` once it listens.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PORT, LOG, HELD = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
MODEL = "tiny"
_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # quiet
        return

    def _answer(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = str(body["messages"][-1]["content"])
        title = prompt.strip().splitlines()[0] if prompt.strip() else "(empty)"
        with _lock, LOG.open("a") as log:
            log.write(title + "\n")
        if "[hold]" in prompt:
            HELD.write_text(title)
            threading.Event().wait()
        content = (
            f"{title.lstrip('# ')}: written by the tiny model. The plan names the owner of "
            "each step, the dates they agreed, and what is left to decide next week."
        )
        self._answer(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 20, "completion_tokens": 30, "total_tokens": 50},
            }
        )


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()
