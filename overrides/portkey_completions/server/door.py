"""The door: every request under the API's base path gets its call record here, once, and its journal entry.

Everything the rooms below need from the wire is read here into a `call.record.Call` (headers,
the alternative matched, the trace id, the namespace) and handed inward in the scope
(`CALL`): the fast path and connexion's handler take it from there and pass it down explicitly.
On the way out the door is the one writer of Portkey's response headers
(`call.portkey_headers.stamped`) and writes the journal entry from what it saw on the wire and
what the rooms wrote into the call.

`--openai-compatible` is read here too: a plain OpenAI request gets the Portkey headers it stands
for (`core.headers.openai_compatible`) in the call and in the scope, where connexion's security
checks read them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portkey_completions.call import metrics, telemetry
from portkey_completions.call.portkey_headers import stamped
from portkey_completions.call.record import NAMESPACE, Call
from portkey_completions.call.security import Alternatives
from portkey_completions.control.journal import MAX_BODY, Journal
from portkey_completions.core import headers as portkey
from portkey_completions.core import spec, sse, untrusted
from portkey_completions.core.headers import STUB

from . import logs
from .access_log import CALL_SLOT

logger = logging.getLogger(__name__)
CALL = "portkey.call"  # the scope key of a request's call record


def call_of(scope: Scope) -> Call:
    """The call record the door made for this request."""
    call: Call = scope[CALL]
    return call


class Door:
    def __init__(
        self, app: ASGIApp, *, alternatives: Alternatives, journal: Journal, openai_compatible: bool, gateway: bool
    ) -> None:
        self.app = app
        self.gateway = gateway  # a store is configured: what is not the stub's is the gateway's
        self._series: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self.alternatives = alternatives
        self.journal = journal
        self.openai_compatible = openai_compatible
        self.prefix = spec.base_path() + "/"
        self._closing: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        raw_headers = scope["headers"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        # What a plain OpenAI request stands for: in the call, and (below) for connexion's security checks.
        added = portkey.openai_compatible(headers) if self.openai_compatible else ()
        headers.update(added)
        call = Call(headers, self.alternatives, receive, namespace=scope.get(NAMESPACE), plain=bool(added))
        if telemetry.tracer is not None:
            call.span = telemetry.request_span(headers, scope["method"], scope["path"])
        journal = self.journal
        entry = journal.open(scope, call)  # the headers as the caller sent them
        if added:
            raw_added = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in added]
            scope = {**scope, "headers": [*raw_headers, *raw_added]}
        scope[CALL] = call  # the request's own scope: nothing else reads this key
        slot = scope.get(CALL_SLOT)
        if slot is not None:  # the JSON access line names the call's facts
            slot.append(call)
        logs.trace_id.set(call.trace_id)  # for log lines, in this request's task (logs.py says why)
        started = time.perf_counter()
        body = b""
        streaming = False
        first_event: float | None = None
        span = call.span
        finish_reasons: list[str] = []

        def finish() -> None:
            took = time.perf_counter() - started
            entry["duration_ms"] = round(took * 1000, 3)
            entry["done"] = True
            if span is not None:
                telemetry.described(span, call.body, call.trace_id, call.alternative)
                provider = None if call.routed is None else call.routed.provider
                telemetry.ended(span, entry["status"] or 499, finish_reasons, provider)
            # 499 (nginx's word): the client left before any answer began.
            self._count(call, entry["status"] or 499, took, None if first_event is None else first_event - started)

        async def receiving() -> Message:
            nonlocal body
            message = await receive()
            if message["type"] == "http.disconnect":
                # Before the answer's end only: a server also says so once it has sent all of it.
                if not entry["done"]:
                    entry["client_gone"] = True
            elif len(body) < MAX_BODY:
                # Most bodies come in one message: kept as the same bytes object, nothing copied.
                body = message.get("body", b"") if not body else body + message.get("body", b"")
                if not message.get("more_body"):
                    entry["body"] = body[:MAX_BODY]
            return message

        async def closed_then_sent(message: Message) -> None:
            await journal.closed(entry)
            await send(message)

        def sending(message: Message) -> Awaitable[None]:  # the inner send's awaitable: no frame of its own
            nonlocal streaming, first_event
            if message["type"] == "http.response.start":
                raw = stamped(list(message.get("headers", ())), call)
                message = {**message, "headers": raw}
                _noted(entry, call)
                entry["status"] = message["status"]
                entry["ttfb_ms"] = round((time.perf_counter() - started) * 1000, 3)
                for name, value in raw:
                    if name == b"content-type":
                        streaming = value.startswith(b"text/event-stream")
                        break
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if span is not None and entry["status"] == 200:
                    telemetry.answered(span, chunk, finish_reasons)
                if streaming:
                    if first_event is None and chunk:
                        first_event = time.perf_counter()
                    entry["events"] += chunk.count(b"\n\n")
                    if _ERROR_EVENT in chunk and call.error_event is None:
                        _stream_error(call, chunk)
                if not message.get("more_body"):
                    finish()
                    if journal.shared:
                        # Journaled before the caller has the whole answer: a test that reads the
                        # journal next, from any process of the fleet, finds the entry.
                        return closed_then_sent(message)
            return send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            # The call holds the server's receive, whose cycle holds this scope: without this the
            # request's objects would wait for the garbage collector (a tail in `make bench`).
            del scope[CALL]
            if not entry["done"]:  # the answer never finished (the caller left): journaled as it stands
                _noted(entry, call)
                finish()
                task = asyncio.get_running_loop().create_task(journal.closed(entry))
                self._closing.add(task)  # held until done: the loop keeps only a weak reference
                task.add_done_callback(self._closing.discard)

    def _count(self, call: Call, status: int, took: float, first_event: float | None) -> None:
        """The call in the metrics: its route, alternative and status, its duration, a stream's first event."""
        key = (_route(call, self.gateway), call.alternative or "none", status)
        series = self._series.get(key)
        if series is None:  # bounded: 5 routes, the spec's alternatives, the statuses answered
            route, alternative, code = key
            series = (
                metrics.REQUESTS.labels(route, alternative, str(code)),
                metrics.DURATION.labels(route, alternative),
                metrics.TIME_TO_FIRST_TOKEN.labels(route),
            )
            self._series[key] = series
        series[0].inc()
        series[1].observe(took)
        if first_event is not None:
            series[2].observe(first_event)


def _route(call: Call, gateway: bool) -> str:
    """What answered the call, as the metrics' `route` says it."""
    if call.rule == "replay":
        return "replay"
    if call.rule is not None:
        return "scenario"
    if call.plain:
        return "openai_compatible"
    if call.routed is not None:
        return "stub" if call.routed.provider == STUB else "gateway"
    return "gateway" if gateway else "stub"


_ERROR_EVENT = b'data: {"error"'


def _stream_error(call: Call, chunk: bytes) -> None:
    """A stream that ends in an error event: its status said 200, so the log and the access line say what came."""
    for data in sse.all_data(chunk):
        if data.startswith('{"error"'):
            try:
                error = untrusted.loads(data)["error"]
            except (ValueError, KeyError, TypeError):
                error = {}
            code = error.get("code") if isinstance(error, dict) else None
            call.error_event = str(code or "error")
            message = error.get("message") if isinstance(error, dict) else None
            logger.warning("stream ended with an error event (%s): %s", call.error_event, message)
            return


def _noted(entry: dict[str, Any], call: Call) -> None:
    """What the rooms below wrote into the call, into its journal entry."""
    entry["alternative"] = call.alternative
    entry["rule"] = call.rule
    routed = call.routed
    if routed is not None:
        entry["provider"] = routed.provider
        entry["route"] = routed.path
        entry["retries"] = routed.retries
