"""The request journal: every /v1 request, bounded, with secrets redacted, kept by the state (`state.py`).

An ASGI middleware opens an entry per request (method, path, headers, body, status, timings,
streamed events); the layers inside add what only they know (the auth alternative, the route,
the scenario rule) through `server.notes.note()`.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portkey_completions.core import spec, untrusted
from portkey_completions.server import namespaces, notes

from .redaction import headers_of
from .state import State

MAX_BODY = 64 * 1024

# The request's receive, as the journal hands it on: what `client_leaves_within` listens on.
_receive: contextvars.ContextVar[Receive | None] = contextvars.ContextVar("journal_receive", default=None)


async def client_leaves_within(seconds: float) -> bool:
    """Wait `seconds`, or less if the client goes away meanwhile; whether it went away (its entry says so too).

    For a deliberate wait once the body is read (a scenario's latency): nothing else listens for
    the client then, so without this a client that gave up would be journaled as answered.
    """
    receive = _receive.get()
    if receive is None:
        await asyncio.sleep(seconds)
        return False
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass  # a body the app left unread: nothing to keep
            return True
    except TimeoutError:
        return False


class Journal:
    """The journal's entries, kept by the state: this process's memory, or Redis for a fleet."""

    def __init__(self, state: State) -> None:
        self.state = state

    async def read(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The entries of `namespace`, oldest first; None: every entry."""
        return [readable(e) for e in await self.state.entries(namespace)]  # Redis's are already

    async def clear(self, namespace: str | None = None) -> None:
        """Forget the entries of `namespace`; None: every entry."""
        await self.state.forget(namespace)

    def open(self, scope: Scope) -> dict[str, Any]:
        """A request's entry, raw: its header list as received, its body as bytes (see `readable`)."""
        entry = {
            "id": None,
            "time": time.time(),
            "method": scope["method"],
            "path": scope["path"],
            "headers": scope["headers"],
            "body": None,
            "alternative": None,
            "route": None,
            "provider": None,
            "rule": None,
            "status": None,
            "events": 0,
            "ttfb_ms": None,
            "duration_ms": None,
            "done": False,
            "client_gone": False,
            "namespace": namespaces.current.get(),
            "worker": self.state.worker,
        }
        self.state.opened(entry)
        return entry


class JournalMiddleware:
    """Journals every request under the API's base path (/v1/); everything else passes untouched."""

    def __init__(self, app: ASGIApp, journal: Journal) -> None:
        self.app = app
        self.journal = journal
        self.prefix = spec.base_path() + "/"
        self._closing: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        entry = self.journal.open(scope)
        started = time.perf_counter()
        body = b""
        streaming = False
        state = self.journal.state

        def finish() -> None:
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            entry["done"] = True

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
            await state.closed(entry)
            await send(message)

        def sending(message: Message) -> Awaitable[None]:  # the inner send's awaitable: no frame of its own
            nonlocal streaming
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                entry["ttfb_ms"] = round((time.perf_counter() - started) * 1000, 3)
                for name, value in message.get("headers", ()):
                    if name == b"content-type":
                        streaming = value.startswith(b"text/event-stream")
                        break
            elif message["type"] == "http.response.body":
                if streaming:
                    entry["events"] += message.get("body", b"").count(b"\n\n")
                if not message.get("more_body"):
                    finish()
                    if state.shared:
                        # Journaled before the caller has the whole answer: a test that reads the
                        # journal next, from any process of the fleet, finds the entry.
                        return closed_then_sent(message)
            return send(message)

        token = notes.open_entry(entry)
        listening = _receive.set(receiving)
        try:
            await self.app(scope, receiving, sending)
        finally:
            _receive.reset(listening)
            notes.close_entry(token)
            if not entry["done"]:  # the answer never finished (the caller left): journaled as it stands
                finish()
                task = asyncio.get_running_loop().create_task(state.closed(entry))
                self._closing.add(task)  # held until done: the loop keeps only a weak reference
                task.add_done_callback(self._closing.discard)


def readable(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as it may leave the process: headers redacted, the body parsed (raw until someone asks)."""
    headers = entry["headers"]
    return {
        **entry,
        "headers": headers_of(headers) if isinstance(headers, list) else headers,
        "body": _body(entry["body"]) if isinstance(entry["body"], bytes) else entry["body"],  # bytes: still raw
    }


def _body(raw: bytes) -> Any:
    # Standard JSON only: a body with NaN is kept as its text, or the journal could not be sent.
    try:
        return untrusted.loads(raw, standard=True)
    except ValueError:
        return raw.decode("utf-8", errors="replace")
