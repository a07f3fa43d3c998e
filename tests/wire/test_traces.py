"""OpenTelemetry: a real OTLP/HTTP receiver, started here, decodes what the server exports (opentelemetry-proto).

The gateway runs with `OTEL_EXPORTER_OTLP_ENDPOINT` pointed at the receiver and a store whose
provider is the scripted upstream: each request is a server span with the GenAI attributes, each
upstream attempt a client span beneath it, and the upstream hears that attempt as its parent.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from portkey_completions.testing import serving
from portkey_completions.testing.serving import free_port, wait_until
from support import BASE, BODY, calls

trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")

INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{INCOMING_TRACE}-00f067aa0ba902b7-01"


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind)


class Receiver(http.server.ThreadingHTTPServer):
    """POST /v1/traces: ExportTraceServiceRequest in protobuf; the spans, decoded, kept in `spans`."""

    def __init__(self, port: int) -> None:
        self.spans: list[dict[str, Any]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = trace_service.ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    service = {a.key: _value(a.value) for a in resource.resource.attributes}.get("service.name")
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            receiver.spans.append({
                                "service": service,
                                "name": span.name,
                                "kind": span.kind,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "attributes": {a.key: _value(a.value) for a in span.attributes},
                            })  # fmt: skip
                answer = trace_service.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", port), Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()


def test_each_request_is_a_server_span_and_each_attempt_a_child(receiver, scripted, tmp_path):
    store = calls.store_file(tmp_path, {"api_keys": ["pk-t"], "providers": {"up": f"{scripted.url}{BASE}"}})
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_address[1]}",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    scripted.script([])
    headers = {"x-portkey-api-key": "pk-t", "authorization": "Bearer sk", "x-portkey-provider": "up"}
    with serving.stub("--store", store, "--log-level", "warning", env=env) as url:
        forwarded = calls.post(url, BODY, auth={**headers, "traceparent": INCOMING, "x-portkey-trace-id": "pk-1"})
        assert forwarded.status_code == 200, forwarded.text
        stubbed = calls.post(
            url, {**BODY, "temperature": 0.5, "top_p": 0.9}, auth={**headers, "x-portkey-provider": "stub"}
        )
        assert stubbed.status_code == 200
        spans = wait_until(lambda: len(receiver.spans) >= 3 and receiver.spans, timeout=10, what="3 spans")
        # The journal names each entry's traces, so that a failing test's request is found in them.
        entries = httpx.get(f"{url}/__admin/journal").json()["entries"]
        first_entry = entries[0]
        assert (first_entry["trace_id"], first_entry["otel_trace_id"]) == ("pk-1", INCOMING_TRACE)
    server_spans = [s for s in spans if s["kind"] == 2]  # SPAN_KIND_SERVER
    [client] = [s for s in spans if s["kind"] == 3]  # SPAN_KIND_CLIENT
    assert len(server_spans) == 2 and {s["service"] for s in spans} == {"portkey-stub"}
    first = next(s for s in server_spans if s["attributes"]["portkey.trace_id"] == "pk-1")
    # The caller's trace continued; the attempt beneath the request.
    assert first["trace_id"] == INCOMING_TRACE and first["parent_span_id"] == "00f067aa0ba902b7"
    assert client["trace_id"] == INCOMING_TRACE and client["parent_span_id"] == first["span_id"]
    assert client["attributes"]["http.response.status_code"] == 200
    # The upstream heard the attempt as its parent, and Portkey's trace id.
    [seen] = scripted.log()
    assert seen["headers"]["traceparent"] == f"00-{INCOMING_TRACE}-{client['span_id']}-01"
    assert seen["headers"]["x-portkey-trace-id"] == "pk-1"
    attributes = first["attributes"]
    assert attributes["gen_ai.operation.name"] == "text_completion"
    assert attributes["gen_ai.request.model"] == BODY["model"]
    assert attributes["gen_ai.request.max_tokens"] == BODY["max_tokens"]
    assert attributes["http.response.status_code"] == 200
    usage = forwarded.json()["usage"]
    assert attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert attributes["gen_ai.response.finish_reasons"] == [forwarded.json()["choices"][0]["finish_reason"]]
    second = next(s for s in server_spans if s is not first)
    assert second["parent_span_id"] == ""  # no traceparent sent: a new trace
    assert second["attributes"]["gen_ai.request.temperature"] == 0.5
    assert second["attributes"]["gen_ai.request.top_p"] == 0.9
    assert second["attributes"]["gen_ai.system"] == "stub"


def test_without_an_endpoint_nothing_of_opentelemetry_is_imported():
    import subprocess
    import sys

    code = (
        "import sys; from portkey_completions.app import create_app; create_app(); "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
