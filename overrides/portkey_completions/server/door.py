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
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from portkey_completions.call.record import NAMESPACE, Call
from portkey_completions.call.security import Alternatives
from portkey_completions.call.shape import Hangup
from portkey_completions.control.coverage import Collector
from portkey_completions.control.journal import Journal
from portkey_completions.core import headers as portkey
from portkey_completions.core import spec
from portkey_completions.observe import metrics, telemetry

from . import logs
from .access_log import CALL_SLOT
from .exchange import Exchange, Listening

EXCHANGE = "portkey.exchange"  # the scope key of a request's exchange


def exchange_of(scope: Scope) -> Exchange:
    """The exchange the door made for this request."""
    exchange: Exchange = scope[EXCHANGE]
    return exchange


class Door:
    def __init__(
        self,
        app: ASGIApp,
        *,
        alternatives: Alternatives,
        journal: Journal,
        openai_compatible: bool,
        gateway: bool,
        tracer: Any = None,
        coverage: Collector | None = None,
    ) -> None:
        self.app = app
        self.coverage = coverage  # contract coverage; None: not collected
        self.tracer = tracer  # OpenTelemetry's, when tracing is on (`observe.telemetry.start`)
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
        if self.tracer is not None:
            call.span = telemetry.request_span(self.tracer, headers, scope["method"], scope["path"])
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
                exchange.finish(complete=False)
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
