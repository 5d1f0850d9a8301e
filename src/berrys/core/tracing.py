"""OpenTelemetry traces of what Berrys does, named by the GenAI semantic conventions.

Off unless the standard ``OTEL_*`` variables ask for it (``configure``): until then the API's
no-op provider stays and nothing is recorded or sent. A run is one trace across processes and
restarts: its creation chooses the ids of its ``invoke_workflow`` span and keeps them with the
run as a W3C ``traceparent``; each task's ``invoke_agent`` span is a child of it, wherever it
runs, and the workflow span itself is emitted under those ids when the run ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes
from opentelemetry.trace import INVALID_SPAN, Span, SpanContext, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

_log = structlog.get_logger("berrys.tracing")

# gen_ai.operation.name values (semantic conventions); PLAN is Berrys' own operation.
INVOKE_WORKFLOW = gen_ai.GenAiOperationNameValues.INVOKE_WORKFLOW.value
INVOKE_AGENT = gen_ai.GenAiOperationNameValues.INVOKE_AGENT.value
CHAT = gen_ai.GenAiOperationNameValues.CHAT.value
EXECUTE_TOOL = gen_ai.GenAiOperationNameValues.EXECUTE_TOOL.value
PLAN = "plan"

OPERATION = gen_ai.GEN_AI_OPERATION_NAME
PROVIDER = gen_ai.GEN_AI_PROVIDER_NAME
REQUEST_MODEL = gen_ai.GEN_AI_REQUEST_MODEL
RESPONSE_MODEL = gen_ai.GEN_AI_RESPONSE_MODEL
REQUEST_MAX_TOKENS = gen_ai.GEN_AI_REQUEST_MAX_TOKENS
REQUEST_TEMPERATURE = gen_ai.GEN_AI_REQUEST_TEMPERATURE
INPUT_TOKENS = gen_ai.GEN_AI_USAGE_INPUT_TOKENS
OUTPUT_TOKENS = gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS
AGENT_ID = gen_ai.GEN_AI_AGENT_ID
AGENT_NAME = gen_ai.GEN_AI_AGENT_NAME
WORKFLOW_NAME = gen_ai.GEN_AI_WORKFLOW_NAME
TOOL_NAME = gen_ai.GEN_AI_TOOL_NAME
TOOL_TYPE = gen_ai.GEN_AI_TOOL_TYPE
TOOL_CALL_ID = gen_ai.GEN_AI_TOOL_CALL_ID
ERROR_TYPE = error_attributes.ERROR_TYPE
COST_USD = "berrys.cost_usd"
# The W3C header's name; a run keeps its workflow span's context under it in its options.
TRACEPARENT = "traceparent"

_tracer = trace.get_tracer("berrys")
_w3c = TraceContextTextMapPropagator()
# The ids a run's creation chose for its workflow span, while its end emits it (one span).
_reserved: ContextVar[SpanContext | None] = ContextVar("berrys_reserved_span", default=None)


class RunSpanIds(IdGenerator):
    """Random ids, except for a run's workflow span: the ids its creation chose."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        reserved = _reserved.get()
        return reserved.span_id if reserved is not None else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        reserved = _reserved.get()
        return reserved.trace_id if reserved is not None else self._random.generate_trace_id()


def new_provider(*processors: SpanProcessor) -> TracerProvider:
    """A tracer provider for Berrys (its resource from ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES``, ``berrys`` by default) sending spans to ``processors``."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": "berrys"}), id_generator=RunSpanIds()
    )
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def configure(environ: Mapping[str, str] = os.environ) -> bool:
    """Install the process's tracer provider when ``environ`` asks for traces (once): the
    exporters ``OTEL_TRACES_EXPORTER`` names (``otlp``, ``console``), or OTLP when only an
    ``OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT`` is set. ``OTEL_SDK_DISABLED=true`` or nothing
    set: nothing is installed, nothing is recorded. True when traces are recorded."""
    if enabled():
        return True
    exporters = _exporters(environ)
    if not exporters:
        return False
    trace.set_tracer_provider(new_provider(*(BatchSpanProcessor(e) for e in exporters)))
    _log.info("tracing.enabled", exporters=[type(e).__name__ for e in exporters])
    return True


def _exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not named:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        named = "otlp" if endpoint else "none"
    exporters: list[SpanExporter] = []
    for name in (part.strip() for part in named.split(",")):
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            exporters.extend(_otlp(environ))
        elif name not in ("none", ""):
            _log.warning("tracing.unknown_exporter", exporter=name, known="otlp, console")
    return exporters


def _otlp(environ: Mapping[str, str]) -> list[SpanExporter]:
    """The OTLP/HTTP (protobuf) exporter, configured by its own ``OTEL_EXPORTER_OTLP_*``."""
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol.strip() != "http/protobuf":
        _log.warning("tracing.unsupported_protocol", protocol=protocol, supported="http/protobuf")
        return []
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        _log.warning("tracing.otlp_missing", install="pip install 'berrys[otel]'")
        return []
    return [OTLPSpanExporter()]


def enabled() -> bool:
    """Whether spans are recorded: an SDK tracer provider is installed."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def flush() -> None:
    """Send the spans still buffered (a command's end; the process's exit does it too)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


@contextmanager
def span(
    operation: str,
    target: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: str | None = None,
    expected: tuple[type[BaseException], ...] = (),
) -> Iterator[Span]:
    """The current span of one ``operation`` named "operation target"; ``parent``: a W3C
    traceparent it belongs under (else the current span). An exception leaving it marks it
    failed, except the ``expected`` ones (control flow, not errors) and cancellation."""
    if not enabled():
        yield INVALID_SPAN
        return
    context = _w3c.extract({TRACEPARENT: parent}) if parent else None
    with _tracer.start_as_current_span(
        f"{operation} {target}" if target else operation,
        context=context,
        kind=kind,
        attributes={OPERATION: operation, **(attributes or {})},
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except expected:
            raise
        except Exception as exc:
            fail(current, type(exc).__name__, str(exc))
            raise


def start(operation: str, target: str, attributes: Mapping[str, AttributeValue]) -> Span:
    """A client span of one ``operation`` under the current one, not made current (it spans
    steps of a generator, other code running between them); its owner ends it."""
    if not enabled():
        return INVALID_SPAN
    return _tracer.start_span(
        f"{operation} {target}",
        kind=SpanKind.CLIENT,
        attributes={OPERATION: operation, **attributes},
    )


def fail(failed: Span, error_type: str, description: str | None = None) -> None:
    """Mark ``failed`` as ended in error (``error.type``, status ERROR)."""
    failed.set_attribute(ERROR_TYPE, error_type)
    failed.set_status(StatusCode.ERROR, description[:1000] if description else None)


def name_agent(name: str) -> None:
    """Name the agent of the current ``invoke_agent`` span, once it is known."""
    agent = trace.get_current_span()
    agent.set_attribute(AGENT_NAME, name)
    agent.update_name(f"{INVOKE_AGENT} {name}")


def new_workflow() -> str | None:
    """A traceparent for a new run's workflow span (a new trace), or None when tracing is off."""
    if not enabled():
        return None
    ids = RandomIdGenerator()
    return f"00-{ids.generate_trace_id():032x}-{ids.generate_span_id():016x}-01"


def end_workflow(
    traceparent: str,
    *,
    name: str,
    started_at: datetime,
    attributes: Mapping[str, AttributeValue],
    error: str | None = None,
) -> None:
    """Emit the run's workflow span, under the ids its creation chose, from its start to now."""
    reserved = trace.get_current_span(_w3c.extract({TRACEPARENT: traceparent}))
    ids = reserved.get_span_context()
    if not enabled() or not ids.is_valid:
        return
    token = _reserved.set(ids)
    try:
        workflow = _tracer.start_span(
            f"{INVOKE_WORKFLOW} {name}",
            context=Context(),  # the root of the run's trace
            attributes={OPERATION: INVOKE_WORKFLOW, WORKFLOW_NAME: name, **attributes},
            start_time=int(started_at.timestamp() * 1_000_000_000),
        )
    finally:
        _reserved.reset(token)
    if error is not None:
        fail(workflow, error)
    workflow.end()


def headers() -> dict[str, str]:
    """The current span's W3C trace context as HTTP headers (none when tracing is off)."""
    carrier: dict[str, str] = {}
    _w3c.inject(carrier)
    return carrier
