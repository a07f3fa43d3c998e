"""The access log: one readable line per request, as uvicorn writes it, at a fraction of its cost.

uvicorn's access log runs Python's logging machinery per request (a record, a formatter, a
handler's lock and write): a quarter of the server's throughput in `make bench`. Here a request
leaves a tuple in a list, and the lines are formatted and written in one `write` per batch, at
most FLUSH_EVERY seconds after the first of them, and when the server shuts down (its lifespan's
end: uvicorn re-raises SIGTERM after it, so `atexit` would not run). The line is uvicorn's:

    INFO:     127.0.0.1:51234 - "POST /v1/completions HTTP/1.1" 200 OK

`serve` uses it at `--log-level info` and `debug`, in place of uvicorn's (which it turns off).
"""

from __future__ import annotations

import asyncio
import http
import sys
from typing import IO, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FLUSH_EVERY = 0.2  # seconds a line may wait in the buffer
MAX_PENDING = 1024  # lines that make a batch be written at once
_PHRASES = {s.value: s.phrase for s in http.HTTPStatus}


class AccessLog:
    def __init__(self, app: ASGIApp, stream: IO[str] | None = None) -> None:
        self.app = app
        self.stream = stream
        self.pending: list[tuple[Any, ...]] = []
        self.scheduled = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._flushing(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Read now: inner layers may rewrite the scope's path (a namespace comes off it).
        line = [scope.get("client"), scope["method"], scope.get("root_path", "") + scope["path"],
                scope.get("query_string", b""), scope.get("http_version", "1.1"), 500]  # fmt: skip

        def sending(message: Message) -> Any:  # the inner send's awaitable: no frame of its own
            if message["type"] == "http.response.start":
                line[5] = message["status"]
            return send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
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
        stream.write("".join(_line(*line) for line in lines))
        stream.flush()


def _line(client: Any, method: str, path: str, query: bytes, version: str, status: int) -> str:
    where = f"{client[0]}:{client[1]}" if client else "-"
    target = f"{path}?{query.decode('latin-1')}" if query else path
    return f'INFO:     {where} - "{method} {target} HTTP/{version}" {status} {_PHRASES.get(status, "")}\n'
