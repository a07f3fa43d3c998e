"""The access log: one line per request, at a fraction of the cost of uvicorn's.

uvicorn's access log runs Python's logging machinery per request (a record, a formatter, a
handler's lock and write): a quarter of the server's throughput in `make bench`. Here a request
leaves a tuple in a list, and the lines are formatted and written in one `write` per batch, at
most FLUSH_EVERY seconds after the first of them, and when the server shuts down (its lifespan's
end). In text (`--log-format text`) the line is uvicorn's:

    INFO:     127.0.0.1:51234 - "POST /v1/completions HTTP/1.1" 200 OK

In JSON, one object a line, as `logs.JsonLines` writes them, with the request's facts:
`method`, `path` (as the caller sent it), `status` (as the client saw it), `duration_ms`, and for
an API request `trace_id`, `alternative`, `route` (what answered, as the metrics' `route` label
says it: `stub`, `gateway`, `scenario`, `replay`, `openai_compatible`), `option` (the config node
a routed request went to, Portkey's last used option), and `error_event`, the code of an error
event that ended a stream the status could no longer report.

`serve` uses it at `--log-level info` and `debug`, in place of uvicorn's (which it turns off).
The probes (`/healthz`, `/readyz`, `/metrics`) are written at debug only: they come every few seconds.
"""

from __future__ import annotations

import asyncio
import http
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import logs

if TYPE_CHECKING:
    from .exchange import Exchange

FLUSH_EVERY = 0.2  # seconds a line may wait in the buffer
MAX_PENDING = 1024  # lines that make a batch be written at once
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
# The scope key of a request's slot for its exchange (the call record and its outcome): the door (inside) puts it there.
CALL_SLOT = "portkey.access"
_PHRASES = {s.value: s.phrase for s in http.HTTPStatus}


class AccessLog:
    def __init__(
        self, app: ASGIApp, stream: IO[str] | None = None, *, json_lines: bool = False, probes: bool = False
    ) -> None:
        self.app = app
        self.stream = stream
        self.json_lines = json_lines
        self.probes = probes  # whether the probes' requests are written (debug)
        self.pending: list[tuple[Any, ...]] = []
        self.scheduled = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._flushing(receive), send)
            return
        if scope["type"] != "http" or (not self.probes and scope["path"] in PROBES):
            await self.app(scope, receive, send)
            return
        # Read now: inner layers may rewrite the scope's path (a namespace comes off it).
        slot: list[Exchange] = []
        if self.json_lines:
            scope[CALL_SLOT] = slot
        started = time.perf_counter()
        line = [scope.get("client"), scope["method"], scope.get("root_path", "") + scope["path"],
                scope.get("query_string", b""), scope.get("http_version", "1.1"), 500]  # fmt: skip

        def sending(message: Message) -> Any:  # the inner send's awaitable: no frame of its own
            if message["type"] == "http.response.start":
                line[5] = message["status"]
            return send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if self.json_lines:
                line += [time.time(), round((time.perf_counter() - started) * 1000, 3), *_facts(slot)]
                del scope[CALL_SLOT]  # no cycle left through the scope (door.py says why)
            pending = self.pending
            # A tuple of strings and numbers: the garbage collector stops tracking it at its first
            # pass, so the lines waiting for a flush are not carried into the older generations.
            pending.append(tuple(line))
            if len(pending) >= MAX_PENDING:
                self.flush()
            elif not self.scheduled:
                self.scheduled = True
                asyncio.get_running_loop().call_later(FLUSH_EVERY, self.flush)

    def _flushing(self, receive: Receive) -> Receive:
        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":  # the last requests have been answered
                self.flush()
            return message

        return receiving

    def flush(self) -> None:
        """Write every buffered line, in one write."""
        self.scheduled = False
        lines, self.pending = self.pending, []
        if not lines:
            return
        stream = self.stream or sys.stderr
        stream.write("".join(_json(*line) if self.json_lines else _line(*line) for line in lines))
        stream.flush()


def _facts(slot: list[Exchange]) -> tuple[str | None, ...]:
    """What the JSON line says of the call: strings only, so the waiting line holds no object."""
    if not slot:
        return None, None, None, None, None
    exchange = slot[0]
    call = exchange.call
    return call.trace_id, call.alternative, exchange.route, exchange.option, exchange.error_event


def _target(path: str, query: bytes) -> str:
    return f"{path}?{query.decode('latin-1')}" if query else path


def _line(client: Any, method: str, path: str, query: bytes, version: str, status: int) -> str:
    where = f"{client[0]}:{client[1]}" if client else "-"
    return f'INFO:     {where} - "{method} {_target(path, query)} HTTP/{version}" {status} {_PHRASES.get(status, "")}\n'


def _json(
    client: Any,
    method: str,
    path: str,
    query: bytes,
    version: str,
    status: int,
    at: float,
    duration_ms: float,
    trace_id: str | None,
    alternative: str | None,
    route: str | None,
    option: str | None,
    error_event: str | None,
) -> str:
    target = _target(path, query)
    fields: dict[str, Any] = {"method": method, "path": target, "status": status, "duration_ms": duration_ms}
    if trace_id is not None:  # an API request: what its call record says
        fields.update(alternative=alternative, route=route, option=option)
        if error_event is not None:
            fields["error_event"] = error_event
    where = client[0] if client else "-"
    message = f'{where} "{method} {target} HTTP/{version}" {status}'
    return logs.json_line(at, "info", "portkey_completions.access", message, trace_id, **fields) + "\n"
