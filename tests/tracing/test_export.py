"""Tracing is off by default, nothing is sent anywhere; with ``OTEL_EXPORTER_OTLP_ENDPOINT``
a run's spans reach an OTLP/HTTP receiver. Each run is in a process of its own (the
process's tracer provider is set once, from its environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from berrys.core import tracing

ROOT = Path(__file__).resolve().parents[2]


def _run_child(tmp_path: Path, **otel: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BERRYS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env.update(otel)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("run_child.py")), str(tmp_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_by_default_nothing_is_recorded_and_no_connection_is_opened(tmp_path: Path) -> None:
    seen = _run_child(tmp_path)
    assert seen["status"] == "COMPLETED_WITH_REVIEW"  # offline drafts wait for a person
    assert seen["provider"] == "ProxyTracerProvider"  # the API's no-op: no SDK, no exporter
    assert seen["traceparent"] is None
    assert seen["connections"] == []  # SQLite, offline models: not one TCP connection


def test_configure_needs_an_otel_variable_and_respects_sdk_disabled() -> None:
    assert tracing.configure({}) is False
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    assert tracing.configure({**endpoint, "OTEL_SDK_DISABLED": "true"}) is False
    assert tracing.configure({"OTEL_TRACES_EXPORTER": "none", **endpoint}) is False
    assert tracing.configure({"OTEL_TRACES_EXPORTER": "zipkin"}) is False
    assert tracing.configure({**endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) is False
    assert not isinstance(trace.get_tracer_provider(), tracing.TracerProvider)


class _Receiver(BaseHTTPRequestHandler):
    posts: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.posts.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    posts: list[tuple[str, str, bytes]] = []
    handler = type("Receiver", (_Receiver,), {"posts": posts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", posts
    finally:
        server.shutdown()
        server.server_close()


def test_with_an_otlp_endpoint_a_runs_spans_reach_the_collector(tmp_path: Path, receiver) -> None:
    endpoint, posts = receiver
    seen = _run_child(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    assert seen["provider"] == "TracerProvider"
    port = endpoint.rsplit(":", 1)[1]
    assert seen["connections"]
    assert set(seen["connections"]) == {f"127.0.0.1:{port}"}  # the collector, nothing else
    assert posts
    assert {(path, kind) for path, kind, _ in posts} == {("/v1/traces", "application/x-protobuf")}
    spans, services = [], set()
    for _, _, body in posts:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            services.add(attributes["service.name"])
            spans += [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert services == {"berrys"}
    _, trace_id, span_id, _ = seen["traceparent"].split("-")
    operation = {
        s.span_id.hex(): next(
            a.value.string_value for a in s.attributes if a.key == "gen_ai.operation.name"
        )
        for s in spans
    }
    [workflow] = [s for s in spans if operation[s.span_id.hex()] == "invoke_workflow"]
    assert (workflow.trace_id.hex(), workflow.span_id.hex()) == (trace_id, span_id)
    assert workflow.parent_span_id == b""
    agents = [s for s in spans if operation[s.span_id.hex()] == "invoke_agent"]
    assert len(agents) == 2
    assert {s.parent_span_id.hex() for s in agents} == {span_id}
    assert {s.trace_id.hex() for s in spans} == {trace_id}
