"""The door: every request under the API's base path gets its call record here, once, and its journal entry.

Everything the rooms below need from the wire is read here into a `call.record.Call` (headers,
the alternative matched, the trace id, the namespace) and handed inward in the scope, inside an
`Exchange`, the edge's own record of the request: the fast path and connexion's handler take the
call from there, pass it down explicitly, and put the `Outcome` the rooms return back into the
exchange (`answered`). On the way out the door is the one writer of Portkey's response headers
(`call.portkey_headers.stamped`) and writes the journal entry from what it saw on the wire and
what the outcome says.

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

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portkey_completions.call.portkey_headers import stamped
from portkey_completions.call.record import NAMESPACE, Call, Outcome
from portkey_completions.call.security import Alternatives
from portkey_completions.call.shape import Hangup
from portkey_completions.control.journal import MAX_BODY, Entry, Journal
from portkey_completions.core import headers as portkey
from portkey_completions.core import spec, sse, untrusted
from portkey_completions.core.headers import STUB
from portkey_completions.observe import metrics, telemetry

from . import logs
from .access_log import CALL_SLOT

logger = logging.getLogger(__name__)
EXCHANGE = "portkey.exchange"  # the scope key of a request's exchange
_ERROR_EVENT = b'data: {"error"'


def exchange_of(scope: Scope) -> Exchange:
    """The exchange the door made for this request."""
    exchange: Exchange = scope[EXCHANGE]
    return exchange


class Listening:
    """The request's receive, as the door hears it: the body kept for the journal, a client that leaves noted.

    Apart from the exchange, and holding only the entry, so that the call (which holds it) and the
    exchange (which holds the call) make no cycle for the garbage collector to find.
    """

    __slots__ = ("body", "entry", "receive")

    def __init__(self, receive: Receive, entry: Entry) -> None:
        self.receive, self.entry, self.body = receive, entry, b""

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.disconnect":
            # Before the answer's end only: a server also says so once it has sent all of it.
            if not self.entry.done:
                self.entry.client_gone = True
        elif len(self.body) < MAX_BODY:
            # Most bodies come in one message: kept as the same bytes object, nothing copied.
            chunk = message.get("body", b"")
            self.body = chunk if not self.body else self.body + chunk
            if not message.get("more_body"):
                self.entry.body = self.body[:MAX_BODY]
        return message


class Exchange:
    """One request at the edge: the call handed in, the outcome handed back, and what the wire showed.

    The edge's own: nothing below the edge sees it. The access log reads its facts too.
    """

    __slots__ = ("call", "door", "entry", "error_event", "finish_reasons", "first_event", "outcome",
                 "send", "started", "streaming")  # fmt: skip

    def __init__(self, door: Door, call: Call, entry: Entry, send: Send) -> None:
        self.door, self.call, self.entry, self.send = door, call, entry, send
        self.outcome: Outcome | None = None  # what the rooms below returned, once they have
        self.error_event: str | None = None  # the code of an error event that ended a 200 stream
        self.started = time.perf_counter()
        self.streaming = False
        self.first_event: float | None = None
        self.finish_reasons: list[str] = []

    def answered(self, outcome: Outcome) -> Response:
        """The rooms' outcome, kept for the way out; its response, to send."""
        self.outcome = outcome
        return outcome.response

    @property
    def routed_path(self) -> str | None:
        """Where the gateway sent the call (the config node), for the access line; None if not routed."""
        outcome = self.outcome
        return None if outcome is None or outcome.routed is None else outcome.routed.path

    def sending(self, message: Message) -> Awaitable[None]:
        """The inner app's send: the answer's facts into the entry (returns the inner send's awaitable: no frame)."""
        entry = self.entry
        if message["type"] == "http.response.start":
            routed = None if self.outcome is None else self.outcome.routed
            raw = stamped(list(message.get("headers", ())), self.call, routed)
            message = {**message, "headers": raw}
            entry.noted(self.call, self.outcome)
            entry.status = message["status"]
            entry.ttfb_ms = round((time.perf_counter() - self.started) * 1000, 3)
            for name, value in raw:
                if name == b"content-type":
                    self.streaming = value.startswith(b"text/event-stream")
                    break
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            span = self.call.span
            if span is not None and entry.status == 200:
                telemetry.answered(span, chunk, self.finish_reasons)
            if self.streaming:
                if self.first_event is None and chunk:
                    self.first_event = time.perf_counter()
                entry.events += chunk.count(b"\n\n")
                if _ERROR_EVENT in chunk and self.error_event is None:
                    self.error_event = _stream_error(chunk)
            if not message.get("more_body"):
                self.finish()
                if self.door.journal.shared:
                    # Journaled before the caller has the whole answer: a test that reads the
                    # journal next, from any process of the fleet, finds the entry.
                    return self._closed_then_sent(message)
        return self.send(message)

    async def _closed_then_sent(self, message: Message) -> None:
        await self.door.journal.closed(self.entry)
        await self.send(message)

    def finish(self) -> None:
        """The answer ended (or the caller left): the entry's timings, the span, the metrics."""
        call, entry = self.call, self.entry
        took = time.perf_counter() - self.started
        entry.duration_ms = round(took * 1000, 3)
        entry.done = True
        status = entry.status or 499  # nginx's word: the client left before any answer began
        if call.span is not None:
            telemetry.described(call.span, call.body, call.trace_id, call.alternative)
            routed = None if self.outcome is None else self.outcome.routed
            telemetry.ended(call.span, status, self.finish_reasons, None if routed is None else routed.provider)
        first_event = None if self.first_event is None else self.first_event - self.started
        route = _route(call, entry, self.outcome, self.door.gateway)
        self.door.count(route, call.alternative, status, took, first_event)


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
        entry = self.journal.open(scope, call)  # the headers as the caller sent them
        call.receive = listening = Listening(receive, entry)
        if added:
            raw_added = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in added]
            scope = {**scope, "headers": [*raw_headers, *raw_added]}
        exchange = scope[EXCHANGE] = Exchange(self, call, entry, send)  # the request's own scope: nobody else reads it
        slot = scope.get(CALL_SLOT)
        if slot is not None:  # the JSON access line names the call's facts
            slot.append(exchange)
        logs.trace_id.set(call.trace_id)  # for log lines, in this request's task (logs.py says why)
        try:
            await self.app(scope, listening, exchange.sending)
        except Hangup as hangup:  # ended before any outcome came up: the rule that waited is named
            if exchange.outcome is None:
                entry.rule = hangup.rule
            raise
        finally:
            # The exchange holds the call, whose receive holds the server's, whose cycle holds this
            # scope: without this the request's objects would wait for the garbage collector.
            del scope[EXCHANGE]
            if not entry.done:  # the answer never finished (the caller left): journaled as it stands
                entry.noted(call, exchange.outcome)
                exchange.finish()
                task = asyncio.get_running_loop().create_task(self.journal.closed(entry))
                self._closing.add(task)  # held until done: the loop keeps only a weak reference
                task.add_done_callback(self._closing.discard)

    def count(self, route: str, alternative: str | None, status: int, took: float, first_event: float | None) -> None:
        """A call in the metrics: its route, alternative and status, its duration, a stream's first event."""
        key = (route, alternative or "none", status)
        series = self._series.get(key)
        if series is None:  # bounded: 5 routes, the spec's alternatives, the statuses answered
            series = (
                metrics.REQUESTS.labels(route, key[1], str(status)),
                metrics.DURATION.labels(route, key[1]),
                metrics.TIME_TO_FIRST_TOKEN.labels(route),
            )
            self._series[key] = series
        series[0].inc()
        series[1].observe(took)
        if first_event is not None:
            series[2].observe(first_event)


def _route(call: Call, entry: Entry, outcome: Outcome | None, gateway: bool) -> str:
    """What answered the call, as the metrics' `route` says it (the entry has noted the outcome's rule)."""
    rule = entry.rule
    if rule == "replay":
        return "replay"
    if rule is not None:
        return "scenario"
    if call.plain:
        return "openai_compatible"
    if outcome is not None and outcome.routed is not None:
        return "stub" if outcome.routed.provider == STUB else "gateway"
    return "gateway" if gateway else "stub"


def _stream_error(chunk: bytes) -> str | None:
    """The code of the error event a 200 stream ends in: logged, so the log and the access line say what came."""
    for data in sse.all_data(chunk):
        if data.startswith('{"error"'):
            try:
                error = untrusted.loads(data)["error"]
            except (ValueError, KeyError, TypeError):
                error = {}
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            logger.warning("stream ended with an error event (%s): %s", code or "error", message)
            return str(code or "error")
    return None
