"""OpenTelemetry traces, when asked for: a server span per request, a client span per upstream attempt.

On when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, or
`serve --otlp-endpoint URL`; the spans go there over OTLP/HTTP, and every other `OTEL_*` variable
(service name, resource attributes, sampling, batching) is the SDK's to read. Off, nothing of
OpenTelemetry is imported: the package's extra `portkey-completions[otel]` need not be installed,
and a request pays one `is None` test.

The request's span carries the GenAI semantic conventions' attributes (`gen_ai.operation.name`,
`gen_ai.request.*`, `gen_ai.usage.*`, `gen_ai.response.finish_reasons`) and Portkey's trace id. An
incoming `traceparent` is continued; the upstream hears the attempt's span as its parent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from . import metrics

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
SERVICE = "portkey-stub"

_tracer: Any = None  # the process's Tracer, once `start` set its provider up (a provider is set once)


def wanted(endpoint: str | None = None) -> bool:
    return bool(endpoint) or any(os.environ.get(v) for v in ENDPOINT_VARIABLES)


def start(endpoint: str | None = None) -> Any:
    """The tracer, its provider and OTLP/HTTP exporter set up once per process; None (tracing off) without an endpoint.

    The composition root hands it to the door and the gateway's leaves: no room reads it here.
    """
    global _tracer
    if _tracer is not None or not wanted(endpoint):
        return _tracer
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ValueError(
            f"OpenTelemetry is asked for but not installed ({exc.name}): pip install 'portkey-completions[otel]'"
        ) from None
    # The SDK reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over this default.
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: SERVICE}))
    if endpoint:
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    else:
        exporter = OTLPSpanExporter()  # from OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("portkey_completions")
    return _tracer


def request_span(tracer: Any, headers: Mapping[str, str], method: str, path: str) -> Any:
    """A request's server span, continuing the caller's `traceparent` if it sent one."""
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    parent = extract(dict(headers))
    span = tracer.start_span(f"{method} {path}", context=parent, kind=SpanKind.SERVER)
    span.set_attribute("http.request.method", method)
    span.set_attribute("url.path", path)
    return span


def attempt_span(tracer: Any, parent: Any, target: str, url: str) -> Any:
    """An upstream attempt's client span, a child of the request's."""
    from opentelemetry.trace import SpanKind, set_span_in_context

    span = tracer.start_span(f"POST {target}", context=set_span_in_context(parent), kind=SpanKind.CLIENT)
    span.set_attribute("server.address", url)
    span.set_attribute("gen_ai.system", target)
    return span


def trace_hex(span: Any) -> str:
    """The span's trace id as trace viewers show it (32 hex digits)."""
    return f"{span.get_span_context().trace_id:032x}"


def traceparent(span: Any) -> str:
    """The W3C `traceparent` that names `span` as the parent."""
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


_FINISH = re.compile(rb'"finish_reason":\s*"(\w+)"')


def described(span: Any, body: Mapping[str, Any] | None, trace_id: str, alternative: str | None) -> None:
    """The request's GenAI attributes, from what it asked."""
    span.set_attribute("gen_ai.operation.name", "text_completion")
    span.set_attribute("portkey.trace_id", trace_id)
    if alternative:
        span.set_attribute("portkey.alternative", alternative)
    if body is None:
        return
    for name, key in (("model", "model"), ("max_tokens", "max_tokens"), ("temperature", "temperature"),
                      ("top_p", "top_p")):  # fmt: skip
        value = body.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            span.set_attribute(f"gen_ai.request.{name}", value)


def answered(span: Any, chunk: bytes, finish_reasons: list[str]) -> None:
    """What an answer's bytes say of its usage and finish reasons (JSON answers and stream chunks)."""
    finish_reasons.extend(r.decode() for r in _FINISH.findall(chunk))
    usage = metrics.usage_in(chunk)
    if usage is not None:
        span.set_attribute("gen_ai.usage.input_tokens", usage[0])
        span.set_attribute("gen_ai.usage.output_tokens", usage[1])


def ended(span: Any, status: int, finish_reasons: list[str], provider: str | None) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("http.response.status_code", status)
    if provider:
        span.set_attribute("gen_ai.system", provider)
    if finish_reasons:
        span.set_attribute("gen_ai.response.finish_reasons", sorted(set(finish_reasons)))
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()
