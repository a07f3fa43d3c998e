"""The edge's record of one request: the call handed in, the outcome handed back, and what the wire showed.

The door makes an `Exchange` per request under the base path and puts it in the scope; the fast
path and connexion's handler take the call from it, hand the call in, and put the `Outcome` the
rooms return back into it (`answered`). Its `sending` is the inner app's send: Portkey's headers
written, the journal entry filled in, the metrics counted when the answer ends. Nothing below the
edge sees it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Protocol

from starlette.responses import Response
from starlette.types import Message, Receive, Send

from portkey_completions.call.portkey_headers import stamped
from portkey_completions.call.record import Call, Outcome
from portkey_completions.control.coverage import Collector
from portkey_completions.control.entry import Entry
from portkey_completions.control.journal import MAX_BODY, Journal
from portkey_completions.core import sse, untrusted
from portkey_completions.core.headers import STUB
from portkey_completions.observe import telemetry

logger = logging.getLogger(__name__)
_ERROR_EVENT = b'data: {"error"'


class Doorway(Protocol):
    """What an exchange needs of the door that made it (`door.Door`)."""

    journal: Journal
    gateway: bool  # a store is configured: what is not the stub's is the gateway's
    coverage: Collector | None  # contract coverage, when it is collected

    def count(self, route: str, alternative: str | None, status: int, took: float, first_event: float | None) -> None:
        """A call in the metrics."""


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
                 "refused", "route", "send", "started", "streaming")  # fmt: skip

    def __init__(self, door: Doorway, call: Call, entry: Entry, send: Send) -> None:
        self.door, self.call, self.entry, self.send = door, call, entry, send
        self.outcome: Outcome | None = None  # what the rooms below returned, once they have
        self.error_event: str | None = None  # the code of an error event that ended a 200 stream
        self.refused: str | None = None  # the `param` of a 400: the field it refused
        self.route: str | None = None  # what answered, as the metrics and the access line say it (at the end)
        self.started = time.perf_counter()
        self.streaming = False
        self.first_event: float | None = None
        self.finish_reasons: list[str] = []

    def answered(self, outcome: Outcome) -> Response:
        """The rooms' outcome, kept for the way out; its response, to send."""
        self.outcome = outcome
        return outcome.response

    @property
    def option(self) -> str | None:
        """The config node the gateway sent the call to (Portkey's last used option), for the access line."""
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
            elif entry.status == 400 and self.refused is None:
                self.refused = _param(chunk)
            if self.streaming:
                if self.first_event is None and chunk:
                    self.first_event = time.perf_counter()
                entry.events += chunk.count(b"\n\n")
                if _ERROR_EVENT in chunk and self.error_event is None:
                    self.error_event = _stream_error(chunk)
            if not message.get("more_body"):
                self.finish(complete=True)
                if self.door.journal.shared:
                    # Journaled before the caller has the whole answer: a test that reads the
                    # journal next, from any process of the fleet, finds the entry.
                    return self._closed_then_sent(message)
        return self.send(message)

    async def _closed_then_sent(self, message: Message) -> None:
        await self.door.journal.closed(self.entry)
        await self.send(message)

    def finish(self, *, complete: bool) -> None:
        """The answer ended (`complete`), or the caller left or the server hung up: the entry's timings,
        the span, the metrics, contract coverage."""
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
        self.route = route = _route(call, entry, self.outcome, self.door.gateway)
        self.door.count(route, call.alternative, status, took, first_event)
        coverage = self.door.coverage
        if coverage is not None:
            early = self.streaming and (not complete or entry.client_gone or self.error_event is not None)
            coverage.finished(entry, self.outcome, call, refused=self.refused, ended_early=early)


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


def _param(chunk: bytes) -> str | None:
    """The `param` of an error answer in the OpenAI shape: the field a 400 refused, if it names one."""
    try:
        error = untrusted.loads(chunk)["error"]
    except (ValueError, KeyError, TypeError):
        return None
    param = error.get("param") if isinstance(error, dict) else None
    return param if isinstance(param, str) else None


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
