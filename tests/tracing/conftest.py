"""Tracing fixtures: spans recorded in memory while a test runs, the no-op provider after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from tests.services.runs.conftest import project, start_worker

from berrys.core import tracing

__all__ = ["project", "start_worker"]


@pytest.fixture(scope="session")
def _recording() -> tuple[TracerProvider, InMemorySpanExporter]:
    # One provider for the session: the API's proxy tracers keep the first real one they see.
    exporter = InMemorySpanExporter()
    return tracing.new_provider(SimpleSpanProcessor(exporter)), exporter


@pytest.fixture
def spans(
    _recording: tuple[TracerProvider, InMemorySpanExporter],
) -> Iterator[InMemorySpanExporter]:
    """Berrys' spans recorded for this test; afterwards tracing is off again, so the rest of
    the suite runs as by default. The API sets its provider once per process: the globals are
    reset around the test, as OpenTelemetry's own test utilities do. (A library's proxy tracer
    that met the provider keeps it: the MCP SDK's spans go on being recorded here.)"""
    provider, exporter = _recording
    exporter.clear()
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        trace._TRACER_PROVIDER = None
        trace._TRACER_PROVIDER_SET_ONCE = Once()
